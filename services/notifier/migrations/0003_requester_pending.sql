-- Requester notices that arrive before the request they belong to.
-- ta.assignment.* events (on ta.assignments.v1) can be consumed before the ta.request.accepted
-- (on ta.requests.v1) that carries the requesting Party's contact: different topics, no order.
-- Such notices wait here and become deliveries when the contact arrives.
CREATE TABLE notifier.requester_pending (
    request_id uuid        NOT NULL,
    event_id   uuid        NOT NULL,
    event_type text        NOT NULL,
    payload    text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, event_id)   -- a redelivered event waits once
);
