-- Requests an upstream system submitted on its own Kafka topic (brief §7.1) have their events
-- copied to that system's outcomes topic; NULL for HTTP and trusted in-cluster submissions.
ALTER TABLE intake.requests ADD COLUMN outcomes_topic text;
