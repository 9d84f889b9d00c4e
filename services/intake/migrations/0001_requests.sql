-- intake's own schema: accepted requests (its inbox and outbox: shared/migrations/messaging).
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
