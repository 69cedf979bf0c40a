-- Each limit's selector pairs, one row each (and a selector with none one row of an empty key
-- and value, as a key is never empty), so the limits of a metric that may select a subject
-- are found by index (src/store/limits.rs, `limits_selecting`: what a request reads while a
-- large metric is first loaded into the limit cache) instead of by matching the text of every
-- selector of the metric. Triggers keep it from the selector, so every writer of limits is
-- covered; deleting a limit deletes its pairs by the foreign key. A migration that rebuilds
-- `limits` drops these triggers and must make them again.
CREATE TABLE limit_selector_pairs (
    tenant_id BLOB NOT NULL,
    metric    TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    limit_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, metric, key, value, limit_id),
    FOREIGN KEY (tenant_id, limit_id) REFERENCES limits (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX limit_selector_pairs_by_limit ON limit_selector_pairs (tenant_id, limit_id);

CREATE TRIGGER limits_selector_pairs_made AFTER INSERT ON limits
BEGIN
    INSERT INTO limit_selector_pairs (tenant_id, metric, key, value, limit_id)
        SELECT NEW.tenant_id, NEW.metric, pair.key, pair.value, NEW.id
        FROM json_each(NEW.selector) AS pair
        UNION ALL
        SELECT NEW.tenant_id, NEW.metric, '', '', NEW.id
        WHERE NOT EXISTS (SELECT 1 FROM json_each(NEW.selector));
END;

CREATE TRIGGER limits_selector_pairs_changed AFTER UPDATE OF selector, metric ON limits
BEGIN
    DELETE FROM limit_selector_pairs WHERE tenant_id = OLD.tenant_id AND limit_id = OLD.id;
    INSERT INTO limit_selector_pairs (tenant_id, metric, key, value, limit_id)
        SELECT NEW.tenant_id, NEW.metric, pair.key, pair.value, NEW.id
        FROM json_each(NEW.selector) AS pair
        UNION ALL
        SELECT NEW.tenant_id, NEW.metric, '', '', NEW.id
        WHERE NOT EXISTS (SELECT 1 FROM json_each(NEW.selector));
END;

INSERT INTO limit_selector_pairs (tenant_id, metric, key, value, limit_id)
    SELECT l.tenant_id, l.metric, pair.key, pair.value, l.id
    FROM limits AS l, json_each(l.selector) AS pair
    UNION ALL
    SELECT l.tenant_id, l.metric, '', '', l.id FROM limits AS l
    WHERE NOT EXISTS (SELECT 1 FROM json_each(l.selector));

-- How many limits a metric has and its latest change, read from the index alone.
CREATE INDEX limits_by_metric_updated ON limits (tenant_id, metric, updated_at);
