-- An outbox row that can never be published (larger than a Kafka record may be, or refused by
-- the producer for good) would stop the relay for ever, since rows leave in id order. The relay
-- quarantines it instead (shared.outbox): the row stays here, with why, for operators to inspect,
-- and the rows behind it go out.
ALTER TABLE matcher.outbox
    ADD COLUMN quarantined_at    timestamptz,
    ADD COLUMN quarantine_reason text;

-- The relay's queue: rows neither published nor quarantined, in id order.
DROP INDEX matcher.outbox_unpublished;
CREATE INDEX outbox_unpublished ON matcher.outbox (id)
    WHERE published_at IS NULL AND quarantined_at IS NULL;

-- What operators look for: the rows set aside, newest first.
CREATE INDEX outbox_quarantined ON matcher.outbox (quarantined_at) WHERE quarantined_at IS NOT NULL;
