-- The platform's API keys (product brief §2): the one schema every service reads.
-- Keys are stored as SHA-256 hashes; the key itself is shown once by `stax keys create`.
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE auth.api_keys (
    key_id      text        PRIMARY KEY,             -- public prefix of the key, safe to log
    key_hash    text        NOT NULL UNIQUE,         -- sha256 of the whole key
    role        text        NOT NULL CHECK (role IN ('submitter', 'partner', 'operator')),
    name        text        NOT NULL,
    partner_id  text,                                -- set for, and only for, partner keys
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((role = 'partner') = (partner_id IS NOT NULL))
);
