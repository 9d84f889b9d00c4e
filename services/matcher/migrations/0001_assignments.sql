-- matcher's own schema: offers made to partners, plus its inbox and outbox.
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

CREATE TABLE matcher.inbox (
    consumer     text        NOT NULL,
    ce_id        uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, ce_id)
);

CREATE TABLE matcher.outbox (
    id           bigserial   PRIMARY KEY,
    ce_id        uuid        NOT NULL UNIQUE,
    topic        text        NOT NULL,
    key          bytea       NOT NULL,
    headers      jsonb       NOT NULL,
    value        bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON matcher.outbox (id) WHERE published_at IS NULL;
