-- Idempotency keys, and intake's read model of what happened to each request after acceptance.

-- An `Idempotency-Key` header maps to the request it created, per submitter (keys of different
-- submitters never collide). body_hash tells a retry (same body → same request_id) from a
-- reuse of the key for another body (→ 409).
CREATE TABLE intake.idempotency_keys (
    submitter        text        NOT NULL,
    idempotency_key  text        NOT NULL,
    request_id       uuid        NOT NULL REFERENCES intake.requests (request_id),
    body_hash        text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submitter, idempotency_key)
);

-- The status timeline: one row per event intake consumed about a request. ce_id is the key,
-- so an event consumed again (redelivery, or intake's own event coming back) adds nothing.
CREATE TABLE intake.timeline (
    ce_id       uuid        PRIMARY KEY,
    request_id  uuid        NOT NULL,   -- no foreign key: events may concern requests intake never saw
    at          timestamptz NOT NULL,   -- the event's ce_time
    event_type  text        NOT NULL,
    partner_id  text,
    summary     text        NOT NULL
);
CREATE INDEX timeline_by_request ON intake.timeline (request_id, at);

-- Offers intake learnt from ta.assignment.offered: partners answer them over intake's HTTP API.
CREATE TABLE intake.assignments (
    assignment_id  uuid             PRIMARY KEY,
    request_id     uuid             NOT NULL,
    partner_id     text             NOT NULL,
    partner_name   text             NOT NULL,
    role           text             NOT NULL,
    score          double precision NOT NULL,
    respond_by     timestamptz      NOT NULL,
    status         text             NOT NULL DEFAULT 'offered',  -- offered | accepted | declined | expired (matcher's word)
    offered_at     timestamptz      NOT NULL,
    updated_at     timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX assignments_by_partner ON intake.assignments (partner_id, offered_at DESC);

-- A partner's answer to an offer: one per assignment (the primary key), so answering twice the
-- same way changes nothing and a contradicting answer is detected (409).
CREATE TABLE intake.assignment_answers (
    assignment_id  uuid        PRIMARY KEY REFERENCES intake.assignments (assignment_id),
    partner_id     text        NOT NULL,
    decision       text        NOT NULL CHECK (decision IN ('accept', 'decline')),
    reason         text        NOT NULL,
    ce_id          uuid        NOT NULL,  -- of the ta.assignment.response it emitted
    answered_at    timestamptz NOT NULL
);
