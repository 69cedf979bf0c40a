-- The live number of `per` partitions (counters with a non-empty `per_value`) of each limit in
-- each period: what the bound on partitions per limit reads (src/store/partitions.rs) instead of
-- counting the counters. Triggers keep it, so every writer of counters is covered: the usage
-- batches, carries, the retention sweep, and the cascades of deleting a limit or a tenant. A row
-- whose count falls to 0 goes. It is derived bookkeeping, hence no timestamps.
CREATE TABLE partition_counts (
    tenant_id    UUID NOT NULL,
    limit_id     TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    partitions   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, limit_id, period_start)
);

CREATE FUNCTION count_partitions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO partition_counts (tenant_id, limit_id, period_start, partitions)
            VALUES (NEW.tenant_id, NEW.limit_id, NEW.period_start, 1)
            ON CONFLICT (tenant_id, limit_id, period_start)
            DO UPDATE SET partitions = partition_counts.partitions + 1;
    ELSE
        UPDATE partition_counts SET partitions = partitions - 1
            WHERE tenant_id = OLD.tenant_id AND limit_id = OLD.limit_id
            AND period_start = OLD.period_start;
        DELETE FROM partition_counts
            WHERE tenant_id = OLD.tenant_id AND limit_id = OLD.limit_id
            AND period_start = OLD.period_start AND partitions <= 0;
    END IF;
    RETURN NULL;
END
$$;

-- Deferred to the commit: a transaction takes the row lock of a count after every lock it takes
-- on counters, so no lock cycle can form between counts and counters (a usage batch locks
-- counters after it inserts them; the retention sweep deletes counters in no particular order).
-- A batch that makes partitions of a limit holds that limit's advisory lock until it has
-- committed, so the next such batch reads a count that holds them.
CREATE CONSTRAINT TRIGGER counters_partition_made AFTER INSERT ON counters
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.per_value <> '') EXECUTE FUNCTION count_partitions();
CREATE CONSTRAINT TRIGGER counters_partition_gone AFTER DELETE ON counters
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.per_value <> '') EXECUTE FUNCTION count_partitions();

-- The partitions made before this migration (the triggers above lock out writers of counters
-- until it commits).
INSERT INTO partition_counts (tenant_id, limit_id, period_start, partitions)
    SELECT tenant_id, limit_id, period_start, COUNT(*) FROM counters WHERE per_value <> ''
    GROUP BY tenant_id, limit_id, period_start;
