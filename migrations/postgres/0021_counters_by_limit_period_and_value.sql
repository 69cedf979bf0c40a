-- A limit's counters by period and then partition value: the history's order, and, with every
-- column of a counter's key, a look-up that finds one row. The planner may take this index for a
-- batch's counters instead of the primary key; without the partition value it then walked all of
-- a period's partitions for each counter (4,715 rows a look-up in a first-touch spread).
DROP INDEX counters_by_limit_period;
CREATE INDEX counters_by_limit_period ON counters (tenant_id, limit_id, period_start, per_value);
