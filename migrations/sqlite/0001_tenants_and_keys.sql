-- Tenants and the API keys that act within them. UUIDs are 16-byte blobs, times RFC 3339 text.
CREATE TABLE tenants (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    roles        TEXT NOT NULL,
    user_id      BLOB,
    description  TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at, id);
