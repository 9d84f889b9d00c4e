-- A delivery its unit leases itself (DeliveryRepository.hand_over) must not overtake one that
-- waits for the same endpoint (held back by the endpoint's cap, or a retry fallen due): the
-- hand-over asks whether the endpoint has such a row, and this index answers at once however
-- long another endpoint's backlog is. Leased rows are not in the way: a lease moves
-- next_attempt_at to its end, so only rows waiting for a claim are due.
CREATE INDEX deliveries_waiting ON notifier.deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending' AND endpoint_id IS NOT NULL;
