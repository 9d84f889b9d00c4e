-- One submitter namespace across HTTP and Kafka (brief §7.1), keyed by a unique id rather than
-- a key's display name, which many keys may share. An upstream system's Kafka tenant name is
-- that id, so its HTTP keys and its Kafka topic see the same requests.
ALTER TABLE auth.api_keys ADD COLUMN submitter_id text;
-- Keys made before this: their requests were filed under the key's name; keep them visible.
UPDATE auth.api_keys SET submitter_id = name WHERE role = 'submitter';
ALTER TABLE auth.api_keys
    ADD CONSTRAINT submitter_keys_have_a_submitter_id
    CHECK ((role = 'submitter') = (submitter_id IS NOT NULL));
