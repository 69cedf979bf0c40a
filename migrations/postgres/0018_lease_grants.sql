-- One row per lease granted, whether or not a limit applied to it (a lease's units of each
-- limit stay in `leases`): what a release or the expiry sweep finds, and what the bound on
-- open leases per tenant counts.
CREATE TABLE lease_grants (
    tenant_id  UUID NOT NULL,
    id         UUID NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX lease_grants_by_expiry ON lease_grants (expires_at);

-- The leases open before this migration.
INSERT INTO lease_grants (tenant_id, id, expires_at)
    SELECT tenant_id, id, MAX(expires_at) FROM leases GROUP BY tenant_id, id;
