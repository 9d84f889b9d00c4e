-- Operators replay a dead letter (ta.deadletter.v1) to the topic it came from, at most once. The
-- replay inserts its row here, produces the record, and commits only once the broker acknowledged
-- it: a failed produce rolls the row back (the operator may try again), and a second replay finds
-- the row and is refused. ta.deadletter.v1 has one partition, so an offset names a dead letter.
CREATE TABLE intake.dead_letter_replays (
    dead_letter_offset bigint      PRIMARY KEY,  -- two replays racing: the second waits, then finds it
    original_topic     text        NOT NULL,     -- where it was written back (its x-dlq-topic)
    replayed_at        timestamptz NOT NULL,
    replayed_by        text        NOT NULL      -- the operator key's key_id (auth.api_keys), never the key
);
