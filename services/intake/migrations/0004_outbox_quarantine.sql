-- An outbox row that can never be published (larger than a Kafka record may be, or refused by
-- the producer for good) would stop the relay for ever, since rows leave in id order. The relay
-- quarantines it instead (shared.outbox): the row stays here, with why, for operators to inspect,
-- and the rows behind it go out.
ALTER TABLE intake.outbox
    ADD COLUMN quarantined_at    timestamptz,
    ADD COLUMN quarantine_reason text;

-- The relay's queue: rows neither published nor quarantined, in id order.
DROP INDEX intake.outbox_unpublished;
CREATE INDEX outbox_unpublished ON intake.outbox (id)
    WHERE published_at IS NULL AND quarantined_at IS NULL;

-- What operators look for: the rows set aside, newest first.
CREATE INDEX outbox_quarantined ON intake.outbox (quarantined_at) WHERE quarantined_at IS NOT NULL;
