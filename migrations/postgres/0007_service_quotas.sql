-- Confluent applied quotas (service-quota/v1): the quota codes an operator defines for other
-- services (quotaplane's own codes are built in), and the audit of every applied-limit change.
-- The codes are installation-wide (a catalogue, like Confluent's), so they carry no tenant.
CREATE TABLE service_quota_codes (
    code          TEXT PRIMARY KEY,
    scope         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    default_limit BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE service_quota_adjustments (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    code          TEXT NOT NULL,
    scope_ref     TEXT NOT NULL,
    old_limit     BIGINT NOT NULL,
    new_limit     BIGINT NOT NULL,
    key_id        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX service_quota_adjustments_by_tenant ON service_quota_adjustments (tenant_id, code, created_at);
