-- intake's own schema: accepted requests, plus the inbox and outbox every service keeps.
CREATE SCHEMA IF NOT EXISTS intake;

CREATE TABLE intake.requests (
    request_id    uuid        PRIMARY KEY,
    submitter     text        NOT NULL,
    external_ref  text        NOT NULL,
    body_hash     text        NOT NULL,   -- sha256 of the canonical submission, to detect a changed resubmission
    party         text        NOT NULL,
    status        text        NOT NULL,
    submission    jsonb       NOT NULL,
    accepted_at   timestamptz NOT NULL,
    -- The same submission sent twice must yield one request: the idempotency key.
    UNIQUE (submitter, external_ref)
);

-- Events this service already applied, per consumer (shared.inbox).
CREATE TABLE intake.inbox (
    consumer     text        NOT NULL,
    ce_id        uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, ce_id)
);

-- Events waiting to be relayed to Kafka (shared.outbox); rows are kept once published, for audit.
CREATE TABLE intake.outbox (
    id           bigserial   PRIMARY KEY,
    ce_id        uuid        NOT NULL UNIQUE,
    topic        text        NOT NULL,
    key          bytea       NOT NULL,
    headers      jsonb       NOT NULL,
    value        bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON intake.outbox (id) WHERE published_at IS NULL;
