-- Alerts on any limit: webhook targets (their signing secrets are derived, never stored), alert
-- rules on limits (a threshold in percent or units, repeat, a target), and the outbox rows they
-- make. Alert rows share the ZITADEL notification outbox and its worker: `kind` tells them apart
-- ('zitadel', 'alert', 'reset'); for alert rows `notification_id` is a digest of what makes the
-- event unique (rule or target, limit, partition), so the outbox's unique key still holds.
CREATE TABLE alert_targets (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          UUID NOT NULL,
    url         TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE limit_alerts (
    tenant_id       UUID NOT NULL,
    limit_id        TEXT NOT NULL,
    id              TEXT NOT NULL,
    threshold_kind  TEXT NOT NULL,
    threshold       BIGINT NOT NULL,
    repeats         BOOLEAN NOT NULL,
    target_id       UUID NOT NULL,
    ordinal         INTEGER NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, limit_id, id),
    FOREIGN KEY (tenant_id, limit_id) REFERENCES limits (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, target_id) REFERENCES alert_targets (tenant_id, id)
);

CREATE INDEX limit_alerts_target ON limit_alerts (tenant_id, target_id);

ALTER TABLE notification_outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'zitadel';
ALTER TABLE notification_outbox ADD COLUMN rule_id TEXT;
ALTER TABLE notification_outbox ADD COLUMN per_value TEXT NOT NULL DEFAULT '';
ALTER TABLE notification_outbox ADD COLUMN target_id UUID;
ALTER TABLE notification_outbox ADD COLUMN payload TEXT;

-- GET /v1/alerts: a tenant's deliveries, newest first.
CREATE INDEX notification_outbox_listed ON notification_outbox (tenant_id, created_at, id);
