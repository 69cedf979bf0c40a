-- Waldur chat token quotas: each user's own daily, weekly and monthly limits (NULL: the system
-- default). The amounts the engine enforces live in `limits`, owned by `waldur:<user>`.
CREATE TABLE chat_token_quotas (
    tenant_id     UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       UUID NOT NULL,
    daily_limit   BIGINT,
    weekly_limit  BIGINT,
    monthly_limit BIGINT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE INDEX api_keys_by_user ON api_keys (tenant_id, user_id);
