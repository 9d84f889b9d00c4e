-- matcher issue 4: the partner registry and the offer saga (requests, slots, offers, answers).

-- The partner registry, seeded from services/matcher/data/partners.json and edited by operators.
CREATE TABLE matcher.partners (
    partner_id       text        PRIMARY KEY CHECK (partner_id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name             text        NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('party', 'regional_centre', 'igo', 'financial')),
    country          text,
    serves_global    boolean     NOT NULL DEFAULT false,
    topics           text[]      NOT NULL,
    assistance_types text[]      NOT NULL,
    languages        text[]      NOT NULL,
    capacity         integer     NOT NULL CHECK (capacity >= 0),
    -- Offered + accepted assignments. Raised with a conditional UPDATE (… AND open_assignments
    -- < capacity) in the offer's transaction: the row lock makes two replicas offering to the
    -- same partner at once queue up, so capacity is never exceeded.
    open_assignments integer     NOT NULL DEFAULT 0 CHECK (open_assignments >= 0),
    active           boolean     NOT NULL DEFAULT true,
    demo             boolean     NOT NULL DEFAULT false,
    note             text        NOT NULL DEFAULT '',
    -- Seeding never overwrites a row an operator created or edited (later operator edits win).
    operator_edited  boolean     NOT NULL DEFAULT false,
    seed_spec        jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Countries and regions a partner serves (many-to-many).
CREATE TABLE matcher.partner_areas (
    partner_id text NOT NULL REFERENCES matcher.partners ON DELETE CASCADE,
    area_kind  text NOT NULL CHECK (area_kind IN ('country', 'region')),
    code       text NOT NULL,
    PRIMARY KEY (partner_id, area_kind, code)
);
CREATE INDEX partner_areas_by_code ON matcher.partner_areas (area_kind, code);

-- One row: bumped by every registry change, so each replica reloads its in-memory index when
-- (and only when) the registry changed; seed_digest says which seed file was applied last.
CREATE TABLE matcher.registry_meta (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version     bigint  NOT NULL DEFAULT 0,
    seed_digest text
);
INSERT INTO matcher.registry_meta (singleton) VALUES (true);

-- One row per request being matched. Every change to a request's offers first takes this row's
-- lock (SELECT … FOR UPDATE): answers, expiry and replicas are serialized per request.
CREATE TABLE matcher.requests (
    request_id uuid        PRIMARY KEY,
    request    jsonb       NOT NULL,
    status     text        NOT NULL DEFAULT 'matching'
                           CHECK (status IN ('matching', 'matched', 'unmatched')),
    created_at timestamptz NOT NULL DEFAULT now(),
    closed_at  timestamptz
);

-- The places to fill for a request: slot 0 leads, the others support. A declined or expired
-- slot is offered to the next best partner, for the topics it was opened for.
CREATE TABLE matcher.slots (
    request_id uuid    NOT NULL REFERENCES matcher.requests,
    slot       integer NOT NULL CHECK (slot >= 0),
    role       text    NOT NULL CHECK (role IN ('lead', 'support')),
    topics     text[]  NOT NULL,
    status     text    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'filled', 'exhausted')),
    PRIMARY KEY (request_id, slot)
);

ALTER TABLE matcher.assignments
    ADD COLUMN slot          integer,
    ADD COLUMN partner_name  text,
    ADD COLUMN reasons       jsonb,
    ADD COLUMN covers_topics text[],
    ADD COLUMN reason        text,
    ADD COLUMN closed_at     timestamptz,
    ADD CONSTRAINT assignment_status
        CHECK (status IN ('offered', 'accepted', 'declined', 'expired'));

-- Never offered twice at once: a slot has at most one live (offered or accepted) assignment,
-- whatever is redelivered or however many replicas run. (UNIQUE (request_id, partner_id) from
-- 0001 already makes sure a partner is asked at most once per request.)
CREATE UNIQUE INDEX one_live_offer_per_slot ON matcher.assignments (request_id, slot)
    WHERE status IN ('offered', 'accepted');

-- The expiry worker's work list: open offers by deadline.
CREATE INDEX open_offers_by_deadline ON matcher.assignments (respond_by)
    WHERE status = 'offered';

-- Every answer received, including those for unknown or already-closed assignments.
CREATE TABLE matcher.responses (
    ce_id         uuid        PRIMARY KEY,
    assignment_id uuid        NOT NULL,
    partner_id    text        NOT NULL,
    decision      text        NOT NULL,
    reason        text        NOT NULL DEFAULT '',
    verdict       text        NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX responses_by_assignment ON matcher.responses (assignment_id);
