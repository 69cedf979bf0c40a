-- The audit log: one row per change of a tenant, key, limit, vendor quota, template or applied
-- quota, written in the change's own transaction. `at` is epoch milliseconds (compared and
-- ordered in SQL the same way in both backends); `before_json`/`after_json` never hold secrets.
-- No foreign key: a record outlives what it describes (a deleted limit, key or quota).
CREATE TABLE audit_log (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL,
    at            BIGINT NOT NULL,
    key_id        TEXT,
    roles         TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    before_json   TEXT,
    after_json    TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, at, id);
CREATE INDEX audit_log_by_at ON audit_log (at, id);

-- Usage history: ended periods' counters are kept (and read) for the history retention; this
-- index serves a limit's periods in time order.
CREATE INDEX counters_by_limit_period ON counters (tenant_id, limit_id, period_start);
