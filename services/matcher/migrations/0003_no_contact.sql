-- matcher never used the requesting Party's contact, yet kept it in every stored request
-- (issue 9, finding 8). New rows leave it out (services/matcher/domain/request.py); old rows
-- lose it here.
UPDATE matcher.requests SET request = request - 'contact' WHERE request ? 'contact';
