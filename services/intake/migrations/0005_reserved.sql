-- Placeholder: number 0005 is reserved for the change to intake.assignment_answers made in
-- parallel (branch of the partner answers start/complete/withdraw). Migrations must be numbered
-- without gaps (shared/migrator.py), so this empty one holds the place until that file replaces
-- it: delete this file when merging that change (0006 depends on nothing in it).
SELECT 1;
