-- ZITADEL instances: each tenant's event sequence (monotonic across its quota and limit
-- changes), and its limits (SetLimits: block, auditLogRetention).
CREATE TABLE zitadel_instance_sequences (
    tenant_id   BLOB PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    sequence    BIGINT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE zitadel_instance_limits (
    tenant_id                    BLOB PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    block                        BOOLEAN,
    audit_log_retention_seconds  BIGINT,
    sequence                     BIGINT NOT NULL,
    created_at                   TEXT NOT NULL,
    updated_at                   TEXT NOT NULL
);

CREATE INDEX zitadel_instance_limits_blocked ON zitadel_instance_limits (tenant_id) WHERE block;
