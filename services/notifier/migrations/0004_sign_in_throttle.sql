-- Portal sign-in e-mails (ta.portal.sign_in_requested): at most one per contact a minute
-- (handlers/sign_in.py). The throttle asks for one contact's recent deliveries of one event type;
-- without this index that question scans every delivery, and anyone may ask it through the portal.
CREATE INDEX deliveries_contact_recent ON notifier.deliveries (contact_id, event_type, created_at)
    WHERE contact_id IS NOT NULL;
