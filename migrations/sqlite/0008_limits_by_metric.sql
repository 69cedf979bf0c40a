-- The usage engine reads a tenant's limits one metric at a time.
CREATE INDEX limits_by_metric ON limits (tenant_id, metric);
