-- The W3C trace id of each result's parameter set (from the result message's traceparent
-- header), so a slow set found here can be opened in a tracing UI, and the other way round.
-- Empty for results produced without trace context.
ALTER TABLE qloop.results ADD COLUMN IF NOT EXISTS trace_id String DEFAULT '' CODEC(ZSTD(1));
