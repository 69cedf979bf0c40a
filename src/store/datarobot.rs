//! DataRobot quotas and quota templates.
//!
//! The SQL both dialects share, expanded for a backend by [`datarobot_store!`] beside `shared_store!`,
//! whose row readers and step modules it uses.

/// Implements [`crate::domain::ports::DataRobotStore`] for a backend struct with a `pool` field.
macro_rules! datarobot_store {
    ($store:ty, $db:ty, $row:ty) => {
        impl $crate::domain::ports::DataRobotStore for $store {
            async fn datarobot_quota(&self, tenant_id: Uuid, id: &str) -> Result<Option<Quota>> {
                self.by_id(QUOTA_COLUMNS, tenant_id, id, quota_from).await
            }

            async fn datarobot_quota_for(
                &self,
                tenant_id: Uuid,
                resource_type: &str,
                resource_id: &str,
            ) -> Result<Option<Quota>> {
                sqlx::query(&format!(
                    "{QUOTA_COLUMNS} WHERE tenant_id = $1 AND resource_type = $2 AND resource_id = $3"
                ))
                .bind(tenant_id)
                .bind(resource_type)
                .bind(resource_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .map(|r| quota_from(&r))
                .transpose()
            }

            async fn datarobot_quotas(
                &self,
                tenant_id: Uuid,
                filter: &QuotaFilter,
                page: Page,
            ) -> Result<(Vec<Quota>, i64)> {
                const MATCHING: &str = "WHERE tenant_id = $1 \
                    AND (CAST($2 AS TEXT) IS NULL OR resource_type = $2) \
                    AND (CAST($3 AS TEXT) IS NULL OR resource_id = $3)";
                let total: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM datarobot_quotas {MATCHING}"
                ))
                .bind(tenant_id)
                .bind(filter.resource_type.as_deref())
                .bind(filter.resource_id.as_deref())
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                let quotas = sqlx::query(&format!(
                    "{QUOTA_COLUMNS} {MATCHING} ORDER BY created_at, id LIMIT $4 OFFSET $5"
                ))
                .bind(tenant_id)
                .bind(filter.resource_type.as_deref())
                .bind(filter.resource_id.as_deref())
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?
                .iter()
                .filter_map(|r| readable(quota_from(r), "DataRobot quota"))
                .collect::<Result<Vec<_>>>()?;
                Ok((quotas, total))
            }

            async fn put_datarobot_template(
                &self,
                t: &Template,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<bool> {
                let rules = to_json(&t.rules)?;
                let mut tx = Self::begin_batch(&self.pool).await?;
                let inserted = sqlx::query(
                    "INSERT INTO datarobot_quota_templates \
                     (tenant_id, id, name, rules, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(t.tenant_id)
                .bind(&t.id)
                .bind(&t.name)
                .bind(&rules)
                .bind(t.created_at)
                .bind(t.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
                if inserted == 0 {
                sqlx::query(
                    "UPDATE datarobot_quota_templates SET name = $3, rules = $4, updated_at = $5 \
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(t.tenant_id)
                .bind(&t.id)
                .bind(&t.name)
                .bind(&rules)
                .bind(t.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                }
                audit_steps::append(&mut *tx, audit).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(inserted > 0)
            }

            async fn datarobot_template(&self, tenant_id: Uuid, id: &str) -> Result<Option<Template>> {
                self.by_id(TEMPLATE_COLUMNS, tenant_id, id, template_from).await
            }

            async fn datarobot_templates(
                &self,
                tenant_ids: [Uuid; 2],
                page: Page,
            ) -> Result<(Vec<Template>, i64)> {
                let total: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM datarobot_quota_templates WHERE tenant_id IN ($1, $2)",
                )
                .bind(tenant_ids[0])
                .bind(tenant_ids[1])
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                let templates = sqlx::query(&format!(
                    "{TEMPLATE_COLUMNS} WHERE tenant_id IN ($1, $2) \
                     ORDER BY created_at, id LIMIT $3 OFFSET $4"
                ))
                .bind(tenant_ids[0])
                .bind(tenant_ids[1])
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?
                .iter()
                .filter_map(|r| readable(template_from(r), "quota template"))
                .collect::<Result<Vec<_>>>()?;
                Ok((templates, total))
            }

            async fn delete_datarobot_template(
                &self,
                tenant_id: Uuid,
                id: &str,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<bool> {
                let delete =
                    sqlx::query("DELETE FROM datarobot_quota_templates WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(id);
                self.delete_audited(delete, audit).await
            }
        }
    };
}

pub(crate) use datarobot_store;
