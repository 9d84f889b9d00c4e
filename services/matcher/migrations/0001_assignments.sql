-- matcher's own schema: offers made to partners (its inbox and outbox: shared/migrations/messaging).
CREATE SCHEMA IF NOT EXISTS matcher;

CREATE TABLE matcher.assignments (
    assignment_id uuid        PRIMARY KEY,
    request_id    uuid        NOT NULL,
    partner_id    text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('lead', 'support')),
    status        text        NOT NULL DEFAULT 'offered',
    score         double precision NOT NULL,
    respond_by    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- A partner is asked at most once per request, whatever is redelivered or runs twice.
    UNIQUE (request_id, partner_id)
);
