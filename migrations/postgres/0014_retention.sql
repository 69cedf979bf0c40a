-- The retention sweep's look-up of idle partitions of `window: none` limits holding 0
-- (src/store/retention.rs): only such rows are indexed, so the index stays small.
CREATE INDEX counters_idle_partitions ON counters (updated_at)
    WHERE used = 0 AND per_value <> '';
