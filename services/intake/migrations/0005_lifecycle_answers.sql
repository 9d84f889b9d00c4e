-- issue 12: partners answer accepted work too (start, complete, withdraw; brief §7.2). Each
-- decision is recorded once per assignment: the same one again changes nothing, and the
-- lifecycle (shared/lifecycle.py) says which ones contradict.
ALTER TABLE intake.assignment_answers
    DROP CONSTRAINT assignment_answers_pkey,
    ADD PRIMARY KEY (assignment_id, decision),
    DROP CONSTRAINT assignment_answers_decision_check,
    ADD CONSTRAINT assignment_answers_decision_check
        CHECK (decision IN ('accept', 'decline', 'start', 'complete', 'withdraw')),
    ADD COLUMN outcome      text   NOT NULL DEFAULT '',
    ADD COLUMN deliverables text[] NOT NULL DEFAULT '{}';

-- A request's closing (feedback, or an operator's decision) is asked for once: asking again is
-- harmless, and matcher's ta.request.closed says when it happened.
ALTER TABLE intake.requests ADD COLUMN closing_asked_at timestamptz;
