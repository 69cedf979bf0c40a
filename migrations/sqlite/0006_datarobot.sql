-- DataRobot quotas and quota templates; and the engine's `per` limits: one counter per distinct
-- value of some subject keys (a DataRobot default rule allows each consumer its own amount).
ALTER TABLE limits ADD COLUMN per TEXT NOT NULL DEFAULT '[]';

-- SQLite cannot change a primary key in place: the counters table is rebuilt.
CREATE TABLE counters_with_per (
    tenant_id    BLOB NOT NULL,
    limit_id     TEXT NOT NULL,
    per_value    TEXT NOT NULL DEFAULT '',
    period_start BIGINT NOT NULL,
    period_end   BIGINT NOT NULL,
    used         BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, limit_id, per_value, period_start),
    FOREIGN KEY (tenant_id, limit_id) REFERENCES limits (tenant_id, id) ON DELETE CASCADE
);
INSERT INTO counters_with_per (tenant_id, limit_id, per_value, period_start, period_end, used, updated_at)
    SELECT tenant_id, limit_id, '', period_start, period_end, used, updated_at FROM counters;
DROP TABLE counters;
ALTER TABLE counters_with_per RENAME TO counters;
CREATE INDEX counters_by_period_end ON counters (period_end);

ALTER TABLE leases ADD COLUMN per_value TEXT NOT NULL DEFAULT '';

CREATE TABLE datarobot_quotas (
    tenant_id            BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   TEXT NOT NULL,
    resource_type        TEXT NOT NULL,
    resource_id          TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    default_rules        TEXT NOT NULL,
    policies             TEXT NOT NULL,
    capacity             TEXT,
    saturation_threshold REAL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, resource_type, resource_id)
);

CREATE INDEX datarobot_quotas_by_creation ON datarobot_quotas (tenant_id, created_at, id);

CREATE TABLE datarobot_quota_templates (
    tenant_id  BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    rules      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX datarobot_quota_templates_by_creation
    ON datarobot_quota_templates (tenant_id, created_at, id);
