-- The inbox and outbox every service keeps, defined once and applied to each service's schema
-- (shared.migrator.apply_messaging substitutes ${schema}, a service constant, never input).

-- Events this service already applied, per consumer (shared.inbox).
CREATE TABLE ${schema}.inbox (
    consumer     text        NOT NULL,
    ce_id        uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, ce_id)
);

-- Events waiting to be relayed to Kafka (shared.outbox); rows are kept once published, for
-- audit, until shared.retention prunes them.
CREATE TABLE ${schema}.outbox (
    id                bigserial   PRIMARY KEY,
    ce_id             uuid        NOT NULL UNIQUE,
    topic             text        NOT NULL,
    key               bytea       NOT NULL,
    headers           jsonb       NOT NULL,
    value             bytea       NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    published_at      timestamptz,
    -- A row that can never be published (larger than a Kafka record may be, or refused by the
    -- producer for good) would stop the relay for ever, since rows leave in id order. The relay
    -- quarantines it instead: the row stays here, with why, and the rows behind it go out.
    quarantined_at    timestamptz,
    quarantine_reason text
);

-- The relay's queue: rows neither published nor quarantined, in id order.
CREATE INDEX outbox_unpublished ON ${schema}.outbox (id)
    WHERE published_at IS NULL AND quarantined_at IS NULL;

-- What operators look for: the rows set aside, newest first.
CREATE INDEX outbox_quarantined ON ${schema}.outbox (quarantined_at)
    WHERE quarantined_at IS NOT NULL;
