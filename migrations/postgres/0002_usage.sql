-- Limits, their counters per period, leases, and idempotency records of the usage engine.
-- Engine instants (periods, expiries) are epoch milliseconds: compared in SQL, same in both backends.
CREATE TABLE limits (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    selector    TEXT NOT NULL,
    metric      TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    window_spec TEXT NOT NULL,
    blocking    BOOLEAN NOT NULL,
    owner       TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX limits_by_owner ON limits (tenant_id, owner);

CREATE TABLE counters (
    tenant_id    UUID NOT NULL,
    limit_id     TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    period_end   BIGINT NOT NULL,
    used         BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, limit_id, period_start),
    FOREIGN KEY (tenant_id, limit_id) REFERENCES limits (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX counters_by_period_end ON counters (period_end);

CREATE TABLE leases (
    tenant_id    UUID NOT NULL,
    id           UUID NOT NULL,
    limit_id     TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    amount       BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id, limit_id),
    FOREIGN KEY (tenant_id, limit_id) REFERENCES limits (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX leases_by_expiry ON leases (expires_at);

CREATE TABLE idempotency (
    tenant_id    UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    decision     TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);
