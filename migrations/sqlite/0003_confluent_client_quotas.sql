-- Confluent client quotas (kafka-quotas/v1). The engine limits they own live in `limits`
-- (owner `confluent:<id>`); these tables keep the vendor resource and its rules.
CREATE TABLE confluent_client_quotas (
    tenant_id          BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 TEXT NOT NULL,
    environment_id     TEXT NOT NULL,
    cluster_id         TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    description        TEXT,
    ingress_byte_rate  BIGINT NOT NULL,
    egress_byte_rate   BIGINT NOT NULL,
    -- The principal ids in the order given, as a JSON array of strings.
    principals         TEXT NOT NULL,
    -- created_at in microseconds since the epoch: the list's keyset order, same in both backends.
    created_us         BIGINT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX confluent_client_quotas_by_cluster
    ON confluent_client_quotas (tenant_id, environment_id, cluster_id, created_us, id);

-- At most one client quota per principal (`<default>` included) on a cluster.
CREATE TABLE confluent_client_quota_principals (
    tenant_id       BLOB NOT NULL,
    environment_id  TEXT NOT NULL,
    cluster_id      TEXT NOT NULL,
    principal_id    TEXT NOT NULL,
    quota_id        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, environment_id, cluster_id, principal_id),
    FOREIGN KEY (tenant_id, quota_id) REFERENCES confluent_client_quotas (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX confluent_client_quota_principals_by_quota
    ON confluent_client_quota_principals (tenant_id, quota_id);

-- Keys of the Confluent surface that must outlive a restart and be shared by replicas
-- (the HMAC key that signs page tokens).
CREATE TABLE confluent_secrets (
    name        TEXT PRIMARY KEY,
    secret      BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
