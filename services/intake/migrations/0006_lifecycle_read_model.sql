-- The read model follows the assistance lifecycle to its end (brief §7.2), and keeps what the
-- assistance report needs (GET /v1/reports/assistance) so that it never reads the jsonb.

-- status_at: the ce_time of the matcher's event that set the status. Its requests and
-- assignments topics interleave at intake; the latest decision wins by this time
-- (services/intake/domain/progress.py). NULL while the status is intake's own "accepted".
ALTER TABLE intake.requests
    ADD COLUMN status_at        timestamptz,
    ADD COLUMN region           text,
    ADD COLUMN topics           text[],
    ADD COLUMN first_offer_at   timestamptz,
    ADD COLUMN matched_at       timestamptz,       -- the first ta.request.matched
    ADD COLUMN completed_at     timestamptz,
    ADD COLUMN uncovered_topics text[]   NOT NULL DEFAULT '{}',  -- as the latest settlement said
    ADD COLUMN closed_at        timestamptz,
    ADD COLUMN closed_by        text     CHECK (closed_by IN ('submitter', 'operator')),
    ADD COLUMN rating           smallint CHECK (rating BETWEEN 1 AND 5),
    -- The submitter's feedback: free text, personal data like the contact, so an erasure
    -- blanks it (and a comment heard after the erasure is not kept).
    ADD COLUMN feedback_comment text     NOT NULL DEFAULT '';

-- Region and topics were only in the stored submission (the ta.request.accepted data); an
-- erasure drops only its contact, so both are there for every request.
UPDATE intake.requests
SET region = submission ->> 'region',
    topics = ARRAY(SELECT jsonb_array_elements_text(submission -> 'topics'));
ALTER TABLE intake.requests
    ALTER COLUMN region SET NOT NULL,
    ALTER COLUMN topics SET NOT NULL;

-- What earlier events left behind: the first offer's time, and the first match's time from the
-- timeline. The uncovered topics of earlier settlements were never kept: they stay empty.
UPDATE intake.requests r SET first_offer_at = a.first
FROM (SELECT request_id, min(offered_at) AS first FROM intake.assignments GROUP BY request_id) a
WHERE a.request_id = r.request_id;
UPDATE intake.requests r SET matched_at = t.first
FROM (SELECT request_id, min(at) AS first FROM intake.timeline
      WHERE event_type = 'ta.request.matched' GROUP BY request_id) t
WHERE t.request_id = r.request_id;

-- No CHECK held the statuses until now; one does, with the lifecycle's words.
ALTER TABLE intake.requests ADD CONSTRAINT requests_status_known CHECK (status IN
    ('accepted', 'matching', 'waiting', 'matched', 'unmatched', 'completed', 'closed'));

-- Per assignment, when the matcher said its partner accepted, started, completed or withdrew
-- (each the event's ce_time; an accepted offer's is its last update's, for earlier ones).
ALTER TABLE intake.assignments
    ADD COLUMN accepted_at  timestamptz,
    ADD COLUMN started_at   timestamptz,
    ADD COLUMN completed_at timestamptz,
    ADD COLUMN withdrawn_at timestamptz,
    ADD CONSTRAINT assignments_status_known CHECK (status IN
        ('offered', 'accepted', 'declined', 'expired', 'started', 'completed', 'withdrawn'));
UPDATE intake.assignments SET accepted_at = updated_at WHERE status = 'accepted';

-- The report reads a window of acceptance times, then the assignments of those requests.
CREATE INDEX requests_by_accepted_at ON intake.requests (accepted_at);
CREATE INDEX assignments_by_request ON intake.assignments (request_id);
