-- Issue 5: e-mail contacts, the Kafka channel, secret rotation, leases and replay.

-- Endpoints: rotation keeps the previous secret until previous_secret_until (both sign);
-- failing_since is the start of an unbroken run of failures (one success clears it).
ALTER TABLE notifier.endpoints
    ADD COLUMN previous_secret       text,
    ADD COLUMN previous_secret_until timestamptz,
    ADD COLUMN failing_since         timestamptz,
    ADD COLUMN disabled_reason       text,
    ADD COLUMN updated_at            timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN deleted               boolean     NOT NULL DEFAULT false;

-- E-mail contacts: a partner's own (partner_id set), or the requesting Party's contact recorded
-- from ta.request.accepted (request_id set; one per request).
CREATE TABLE notifier.contacts (
    contact_id  uuid        PRIMARY KEY,
    partner_id  text,
    request_id  uuid,
    party       text,                               -- requester contacts: the Party's code
    email       text        NOT NULL,
    name        text        NOT NULL DEFAULT '',
    language    text        NOT NULL DEFAULT 'en',
    event_types text[]      NOT NULL DEFAULT '{}',  -- empty = every event type
    enabled     boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((partner_id IS NULL) <> (request_id IS NULL))
);
CREATE INDEX contacts_partner ON notifier.contacts (partner_id) WHERE enabled;
-- One requester contact per request, however often ta.request.accepted is redelivered.
CREATE UNIQUE INDEX contacts_request ON notifier.contacts (request_id) WHERE request_id IS NOT NULL;

-- The Kafka channel: a partner's events mirrored to its own topic (ta.partner.<id>.v1).
CREATE TABLE notifier.kafka_channels (
    partner_id  text        PRIMARY KEY,         -- one channel (one topic) per partner
    topic       text        NOT NULL,
    event_types text[]      NOT NULL DEFAULT '{}',
    enabled     boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Deliveries now go to an endpoint (webhook) or a contact (e-mail), never both.
ALTER TABLE notifier.deliveries
    ALTER COLUMN endpoint_id DROP NOT NULL,
    ADD COLUMN contact_id    uuid REFERENCES notifier.contacts,
    ADD COLUMN claimed_until timestamptz,  -- lease of the worker sending it now
    ADD COLUMN last_attempt_at timestamptz,
    ADD COLUMN failed_at     timestamptz,
    ADD CONSTRAINT deliveries_one_target CHECK ((endpoint_id IS NULL) <> (contact_id IS NULL)),
    ADD CONSTRAINT deliveries_channel CHECK (channel IN ('webhook', 'email')),
    -- One e-mail per event and contact, however often the event is redelivered (the
    -- (event_id, endpoint_id) constraint of 0001 does the same for webhooks).
    ADD CONSTRAINT deliveries_event_contact UNIQUE (event_id, contact_id);

-- The claim's order: first attempts before retries (so a dead endpoint's retries never starve
-- fresh deliveries), then the most overdue; the index lets it stop at the first free row.
CREATE INDEX deliveries_due_priority ON notifier.deliveries ((attempts > 0), next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX deliveries_partner_status ON notifier.deliveries (partner_id, status, created_at);
CREATE INDEX deliveries_failed ON notifier.deliveries (failed_at) WHERE status = 'failed';
-- Counting a given endpoint's leased rows (the per-endpoint in-flight cap) stays cheap.
CREATE INDEX deliveries_in_flight ON notifier.deliveries (endpoint_id)
    WHERE status = 'pending' AND claimed_until IS NOT NULL;
