//! ZITADEL instance quotas.
//!
//! The SQL both dialects share, expanded for a backend by [`zitadel_store!`] beside `shared_store!`,
//! whose row readers and step modules it uses.

/// Implements [`crate::domain::ports::ZitadelStore`] for a backend struct with a `pool` field.
macro_rules! zitadel_store {
    ($store:ty, $db:ty, $row:ty) => {
        impl $crate::domain::ports::ZitadelStore for $store {
            async fn zitadel_quota(
                &self,
                tenant_id: Uuid,
                unit: crate::domain::zitadel::Unit,
            ) -> Result<Option<crate::domain::zitadel::QuotaRecord>> {
                let row: Option<(
                    i64,
                    chrono::DateTime<chrono::Utc>,
                    chrono::DateTime<chrono::Utc>,
                )> = sqlx::query_as(
                    "SELECT sequence, created_at, updated_at FROM zitadel_quotas \
                         WHERE tenant_id = $1 AND unit = $2",
                )
                .bind(tenant_id)
                .bind(unit.number())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(row.map(|(sequence, created_at, updated_at)| {
                    crate::domain::zitadel::QuotaRecord {
                        tenant_id,
                        unit,
                        sequence,
                        created_at,
                        updated_at,
                    }
                }))
            }
        }
    };
}

pub(crate) use zitadel_store;
