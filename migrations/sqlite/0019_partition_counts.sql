-- The live number of `per` partitions (counters with a non-empty `per_value`) of each limit in
-- each period: what the bound on partitions per limit reads (src/store/partitions.rs) instead of
-- counting the counters. Triggers keep it, so every writer of counters is covered: the usage
-- batches, carries, the retention sweep, and the cascades of deleting a limit or a tenant. A row
-- whose count falls to 0 goes. It is derived bookkeeping, hence no timestamps.
CREATE TABLE partition_counts (
    tenant_id    BLOB NOT NULL,
    limit_id     TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    partitions   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, limit_id, period_start)
);

-- An upsert that updates a counter fires no insert trigger: only rows made count. A later
-- migration that rebuilds `counters` (as 0006 did) drops these triggers and must make them again.
CREATE TRIGGER counters_partition_made AFTER INSERT ON counters WHEN NEW.per_value <> ''
BEGIN
    INSERT INTO partition_counts (tenant_id, limit_id, period_start, partitions)
        VALUES (NEW.tenant_id, NEW.limit_id, NEW.period_start, 1)
        ON CONFLICT (tenant_id, limit_id, period_start)
        DO UPDATE SET partitions = partitions + 1;
END;

CREATE TRIGGER counters_partition_gone AFTER DELETE ON counters WHEN OLD.per_value <> ''
BEGIN
    UPDATE partition_counts SET partitions = partitions - 1
        WHERE tenant_id = OLD.tenant_id AND limit_id = OLD.limit_id
        AND period_start = OLD.period_start;
    DELETE FROM partition_counts
        WHERE tenant_id = OLD.tenant_id AND limit_id = OLD.limit_id
        AND period_start = OLD.period_start AND partitions <= 0;
END;

-- The partitions made before this migration.
INSERT INTO partition_counts (tenant_id, limit_id, period_start, partitions)
    SELECT tenant_id, limit_id, period_start, COUNT(*) FROM counters WHERE per_value <> ''
    GROUP BY tenant_id, limit_id, period_start;
