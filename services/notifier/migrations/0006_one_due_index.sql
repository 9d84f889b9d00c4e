-- The claim reads the due deliveries in claim order through deliveries_due_priority alone; the
-- older deliveries_due (next_attempt_at only) serves no query now, and every insert and every
-- update of a delivery (two a delivery: lease, outcome) paid for an entry in it.
DROP INDEX notifier.deliveries_due;
