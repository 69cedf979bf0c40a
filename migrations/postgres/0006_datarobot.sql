-- DataRobot quotas and quota templates; and the engine's `per` limits: one counter per distinct
-- value of some subject keys (a DataRobot default rule allows each consumer its own amount).
ALTER TABLE limits ADD COLUMN per TEXT NOT NULL DEFAULT '[]';

ALTER TABLE counters ADD COLUMN per_value TEXT NOT NULL DEFAULT '';
ALTER TABLE counters DROP CONSTRAINT counters_pkey;
ALTER TABLE counters ADD PRIMARY KEY (tenant_id, limit_id, per_value, period_start);

ALTER TABLE leases ADD COLUMN per_value TEXT NOT NULL DEFAULT '';

CREATE TABLE datarobot_quotas (
    tenant_id            UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   TEXT NOT NULL,
    resource_type        TEXT NOT NULL,
    resource_id          TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    default_rules        TEXT NOT NULL,
    policies             TEXT NOT NULL,
    capacity             TEXT,
    saturation_threshold DOUBLE PRECISION,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, resource_type, resource_id)
);

CREATE INDEX datarobot_quotas_by_creation ON datarobot_quotas (tenant_id, created_at, id);

CREATE TABLE datarobot_quota_templates (
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    rules      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX datarobot_quota_templates_by_creation
    ON datarobot_quota_templates (tenant_id, created_at, id);
