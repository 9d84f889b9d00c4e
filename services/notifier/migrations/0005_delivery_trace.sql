-- Tracing (brief §7.5): the trace context a delivery was queued in, a W3C `traceparent` value, so
-- the worker that sends it later, in another task, continues the request's trace (the webhook POST
-- carries it on). NULL when tracing is off or the delivery was queued under no trace.
ALTER TABLE notifier.deliveries ADD COLUMN traceparent text;
