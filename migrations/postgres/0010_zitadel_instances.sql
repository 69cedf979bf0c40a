-- ZITADEL instances: each tenant's event sequence (monotonic across its quota and limit
-- changes), and its limits (SetLimits: block, auditLogRetention).
CREATE TABLE zitadel_instance_sequences (
    tenant_id   UUID PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    sequence    BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE zitadel_instance_limits (
    tenant_id                    UUID PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    block                        BOOLEAN,
    audit_log_retention_seconds  BIGINT,
    sequence                     BIGINT NOT NULL,
    created_at                   TIMESTAMPTZ NOT NULL,
    updated_at                   TIMESTAMPTZ NOT NULL
);

CREATE INDEX zitadel_instance_limits_blocked ON zitadel_instance_limits (tenant_id) WHERE block;
