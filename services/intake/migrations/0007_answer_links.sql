-- The one-click Accept / Decline links of offer e-mails (brief §7.4) are single use. A link is a
-- signed token that stays valid until its offer's respond_by; once confirmed, its digest
-- (sha256 of the token, never the token: a token is a capability) is kept here, in the same
-- transaction as the answer it gave, so a second confirmation finds it and changes nothing.
CREATE TABLE intake.used_answer_links (
    digest        text        PRIMARY KEY,  -- two confirmations racing: the second waits, then finds it
    assignment_id uuid        NOT NULL,
    used_at       timestamptz NOT NULL
);
