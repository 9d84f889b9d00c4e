-- notifier's own schema: partners' webhook endpoints, one delivery row per (event, endpoint),
-- (its inbox and outbox: shared/migrations/messaging).
CREATE SCHEMA IF NOT EXISTS notifier;

CREATE TABLE notifier.endpoints (
    endpoint_id uuid        PRIMARY KEY,
    partner_id  text        NOT NULL,
    url         text        NOT NULL,
    secret      text        NOT NULL,               -- whsec_…, shown to the partner once
    event_types text[]      NOT NULL DEFAULT '{}',  -- empty = every event type
    enabled     boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX endpoints_partner ON notifier.endpoints (partner_id) WHERE enabled;

CREATE TABLE notifier.deliveries (
    delivery_id     uuid        PRIMARY KEY,        -- also the webhook-id: stable across retries
    event_id        uuid        NOT NULL,           -- ce_id of the event notified about
    event_type      text        NOT NULL,
    endpoint_id     uuid        NOT NULL REFERENCES notifier.endpoints,
    partner_id      text        NOT NULL,
    request_id      uuid,
    channel         text        NOT NULL DEFAULT 'webhook',
    payload         text        NOT NULL,           -- the exact body signed and sent
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    -- One delivery per event and endpoint, however often the event is redelivered.
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX deliveries_due ON notifier.deliveries (next_attempt_at) WHERE status = 'pending';
