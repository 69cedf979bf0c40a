-- Each limit's selector pairs, one row each (and a selector with none one row of an empty key
-- and value, as a key is never empty), so the limits of a metric that may select a subject
-- are found by index (src/store/limits.rs, `limits_selecting`: what a request reads while a
-- large metric is first loaded into the limit cache) instead of by matching the text of every
-- selector of the metric. A trigger keeps it from the selector, so every writer of limits is
-- covered; deleting a limit deletes its pairs by the foreign key.
CREATE TABLE limit_selector_pairs (
    tenant_id UUID NOT NULL,
    metric    TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    limit_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, metric, key, value, limit_id),
    FOREIGN KEY (tenant_id, limit_id) REFERENCES limits (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX limit_selector_pairs_by_limit ON limit_selector_pairs (tenant_id, limit_id);

CREATE FUNCTION index_selector_pairs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.selector = OLD.selector AND NEW.metric = OLD.metric THEN
            RETURN NULL;
        END IF;
        DELETE FROM limit_selector_pairs WHERE tenant_id = OLD.tenant_id AND limit_id = OLD.id;
    END IF;
    INSERT INTO limit_selector_pairs (tenant_id, metric, key, value, limit_id)
        SELECT NEW.tenant_id, NEW.metric, pair.key, pair.value, NEW.id
        FROM jsonb_each_text(NEW.selector::jsonb) AS pair
        UNION ALL
        SELECT NEW.tenant_id, NEW.metric, '', '', NEW.id
        WHERE NOT EXISTS (SELECT 1 FROM jsonb_each_text(NEW.selector::jsonb));
    RETURN NULL;
END
$$;

CREATE TRIGGER limits_selector_pairs AFTER INSERT OR UPDATE ON limits
    FOR EACH ROW EXECUTE FUNCTION index_selector_pairs();

INSERT INTO limit_selector_pairs (tenant_id, metric, key, value, limit_id)
    SELECT l.tenant_id, l.metric, pair.key, pair.value, l.id
    FROM limits AS l, jsonb_each_text(l.selector::jsonb) AS pair
    UNION ALL
    SELECT l.tenant_id, l.metric, '', '', l.id FROM limits AS l
    WHERE NOT EXISTS (SELECT 1 FROM jsonb_each_text(l.selector::jsonb));

-- How many limits a metric has and its latest change, read from the index alone.
CREATE INDEX limits_by_metric_updated ON limits (tenant_id, metric, updated_at);
