-- Notification rules on limits, the durable outbox of due notifications, and ZITADEL instance
-- quotas. Engine instants (periods, attempts) are epoch milliseconds, as in 0002.
CREATE TABLE limit_notifications (
    tenant_id   BLOB NOT NULL,
    limit_id    TEXT NOT NULL,
    id          TEXT NOT NULL,
    percent     BIGINT NOT NULL,
    repeats     INTEGER NOT NULL,
    call_url    TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, limit_id, id),
    FOREIGN KEY (tenant_id, limit_id) REFERENCES limits (tenant_id, id) ON DELETE CASCADE
);

-- One row per (notification, period, threshold): the unique key makes a due event idempotent.
-- Rows outlive their limit, so a notification already due is still delivered after a removal.
CREATE TABLE notification_outbox (
    id              BLOB PRIMARY KEY,
    tenant_id       BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    limit_id        TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    call_url        TEXT NOT NULL,
    metric          TEXT NOT NULL,
    period_start    BIGINT NOT NULL,
    period_end      BIGINT NOT NULL,
    threshold       BIGINT NOT NULL,
    usage           BIGINT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (tenant_id, notification_id, period_start, threshold)
);

CREATE INDEX notification_outbox_due ON notification_outbox (status, next_attempt_at);
CREATE INDEX notification_outbox_fired ON notification_outbox (tenant_id, limit_id, period_start);

CREATE TABLE zitadel_quotas (
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    unit        INTEGER NOT NULL,
    sequence    BIGINT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, unit)
);
