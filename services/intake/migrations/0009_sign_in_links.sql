-- The partner portal's e-mailed sign-in links (brief §7.4) are single use, like answer links:
-- the digest of each link used (sha256 of the token, never the token) is kept, and a link found
-- here signs nobody in again.
CREATE TABLE intake.used_sign_in_links (
    digest      text        PRIMARY KEY,
    partner_id  text        NOT NULL,
    used_at     timestamptz NOT NULL
);
CREATE INDEX used_sign_in_links_by_time ON intake.used_sign_in_links (used_at);
