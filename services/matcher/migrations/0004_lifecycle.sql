-- issue 12: the assistance lifecycle to its end (brief §7.2): accepted work is started, completed
-- or withdrawn; requests wait for capacity instead of going unmatched; submitters close them.

-- Assignments: the statuses of shared/lifecycle.py, and what a completion reports.
ALTER TABLE matcher.assignments
    DROP CONSTRAINT assignment_status,
    ADD CONSTRAINT assignment_status CHECK (status IN
        ('offered', 'accepted', 'declined', 'expired', 'started', 'completed', 'withdrawn')),
    ADD COLUMN outcome       text,
    ADD COLUMN deliverables  text[],
    ADD COLUMN started_at    timestamptz;

-- A slot has at most one live assignment. Completed work keeps its slot (it is done, nobody else
-- is asked); withdrawn work frees it for the next partner.
DROP INDEX matcher.one_live_offer_per_slot;
CREATE UNIQUE INDEX one_live_offer_per_slot ON matcher.assignments (request_id, slot)
    WHERE status IN ('offered', 'accepted', 'started', 'completed');

-- open_assignments (partners) now counts offered + accepted + started: completion and
-- withdrawal give the unit back (brief §7.2 "Capacity").

-- Slots: 'waiting' while every partner who could fill it is at capacity; 'completed' once done.
ALTER TABLE matcher.slots DROP CONSTRAINT slots_status_check;
ALTER TABLE matcher.slots ADD CONSTRAINT slots_status_check
    CHECK (status IN ('open', 'filled', 'exhausted', 'waiting', 'completed'));

-- Requests: waiting (for whom, since when, how urgent), completed and closed (with feedback).
ALTER TABLE matcher.requests DROP CONSTRAINT requests_status_check;
ALTER TABLE matcher.requests
    ADD CONSTRAINT requests_status_check CHECK (status IN
        ('matching', 'waiting', 'matched', 'unmatched', 'completed', 'closed')),
    ADD COLUMN urgent        boolean     NOT NULL DEFAULT false,
    ADD COLUMN waiting_since timestamptz,
    -- The capable partners it waits for, all full when it began to wait: capacity freed by any
    -- of them is offered to the waiting requests, oldest first (urgent before routine).
    ADD COLUMN waiting_for   text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN closed_by     text,
    ADD COLUMN rating        smallint    CHECK (rating BETWEEN 1 AND 5),
    ADD COLUMN comment       text;

-- "Oldest first" is by arrival: requests consumed in one batch share a transaction, so now()
-- would tie them; the wall clock at the insert keeps their order.
ALTER TABLE matcher.requests ALTER COLUMN created_at SET DEFAULT clock_timestamp();

UPDATE matcher.requests SET urgent = (request->>'urgency' = 'urgent');

-- The queue: which waiting request is served first.
CREATE INDEX waiting_queue ON matcher.requests (urgent DESC, created_at) WHERE status = 'waiting';
-- Who waits for a partner whose capacity just freed.
CREATE INDEX waiting_for_partner ON matcher.requests USING gin (waiting_for)
    WHERE status = 'waiting';
