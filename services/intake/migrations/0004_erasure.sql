-- Erasure of a request's personal data (issue 9, finding 8): when an operator erased it.
-- Set once: a second erasure request answers with this time and emits nothing new.
ALTER TABLE intake.requests ADD COLUMN erased_at timestamptz;
