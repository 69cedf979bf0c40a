//! The SQL both backends share, written once and expanded for each by [`shared_store!`].

/// Implements [`crate::store::Store`] for a backend struct with a `pool` field. The SQL here must
/// be valid in both PostgreSQL and SQLite; the row types (`Uuid`, `DateTime<Utc>`) are mapped by
/// sqlx to each dialect's columns (see the two migration folders).
macro_rules! shared_store {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            /// The row with this tenant and id that `select` (a `SELECT ... FROM` without a
            /// `WHERE`) reads, made by `from`.
            async fn by_id<T>(
                &self,
                select: &str,
                tenant_id: Uuid,
                id: &str,
                from: fn(&$row) -> Result<T>,
            ) -> Result<Option<T>> {
                sqlx::query(&format!("{select} WHERE tenant_id = $1 AND id = $2"))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .map(|r| from(&r))
                    .transpose()
            }

            /// Reads a chat quota row's own limits.
            fn own_limits(r: &$row) -> Result<$crate::domain::waldur::OwnLimits> {
                use sqlx::Row;
                Ok($crate::domain::waldur::OwnLimits {
                    daily: r.try_get("daily_limit").map_err(db_error)?,
                    weekly: r.try_get("weekly_limit").map_err(db_error)?,
                    monthly: r.try_get("monthly_limit").map_err(db_error)?,
                })
            }
        }

        const QUOTA_COLUMNS: &str = "SELECT tenant_id, id, resource_type, resource_id, user_id, \
            default_rules, policies, capacity, saturation_threshold, created_at, updated_at \
            FROM datarobot_quotas";

        const TEMPLATE_COLUMNS: &str =
            "SELECT tenant_id, id, name, rules, created_at, updated_at FROM datarobot_quota_templates";

        /// A row of a list as read: a row that cannot be read (written by an older version, or
        /// damaged) is left out of the list and logged, so one bad row never fails a whole list.
        fn readable<T>(row: Result<T>, what: &str) -> Option<Result<T>> {
            match row {
                Err(Error::Internal(message)) => {
                    tracing::warn!(what, %message, "left an unreadable stored row out of a list");
                    None
                }
                other => Some(other),
            }
        }

        fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
            serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))
        }

        fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
            serde_json::from_str(text)
                .map_err(|_| Error::Internal(format!("a stored DataRobot {what} is unreadable")))
        }

        fn quota_from(r: &$row) -> Result<Quota> {
            use sqlx::Row;
            let rules: String = r.try_get("default_rules").map_err(db_error)?;
            let policies: String = r.try_get("policies").map_err(db_error)?;
            let capacity: Option<String> = r.try_get("capacity").map_err(db_error)?;
            Ok(Quota {
                tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                id: r.try_get("id").map_err(db_error)?,
                resource_type: r.try_get("resource_type").map_err(db_error)?,
                resource_id: r.try_get("resource_id").map_err(db_error)?,
                user_id: r.try_get("user_id").map_err(db_error)?,
                default_rules: from_json(&rules, "rule")?,
                policies: from_json(&policies, "policy")?,
                capacity: capacity.map(|c| from_json(&c, "capacity")).transpose()?,
                saturation_threshold: r.try_get("saturation_threshold").map_err(db_error)?,
                created_at: r.try_get("created_at").map_err(db_error)?,
                updated_at: r.try_get("updated_at").map_err(db_error)?,
            })
        }

        fn template_from(r: &$row) -> Result<Template> {
            use sqlx::Row;
            let rules: String = r.try_get("rules").map_err(db_error)?;
            Ok(Template {
                tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                id: r.try_get("id").map_err(db_error)?,
                name: r.try_get("name").map_err(db_error)?,
                rules: from_json(&rules, "rule")?,
                created_at: r.try_get("created_at").map_err(db_error)?,
                updated_at: r.try_get("updated_at").map_err(db_error)?,
            })
        }

        const KEY_COLUMNS: &str = "SELECT id, tenant_id, roles, user_id, description, secret_hash, \
                                   created_at FROM api_keys";

        fn tenant_from(r: &$row) -> Result<Tenant> {
            use sqlx::Row;
            let name: String = r.try_get("name").map_err(db_error)?;
            Ok(Tenant {
                id: r.try_get("id").map_err(db_error)?,
                name: TenantName::parse(&name)?,
                created_at: r.try_get("created_at").map_err(db_error)?,
            })
        }

        fn key_from(r: &$row) -> Result<ApiKey> {
            use sqlx::Row;
            let roles: String = r.try_get("roles").map_err(db_error)?;
            let hash: String = r.try_get("secret_hash").map_err(db_error)?;
            Ok(ApiKey {
                id: r.try_get("id").map_err(db_error)?,
                tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                roles: Roles::from_stored(&roles),
                user_id: r.try_get("user_id").map_err(db_error)?,
                description: r.try_get("description").map_err(db_error)?,
                secret_hash: SecretHash::from_hex(&hash)
                    .ok_or_else(|| Error::Internal("a stored secret hash is malformed".into()))?,
                created_at: r.try_get("created_at").map_err(db_error)?,
            })
        }

        fn due_from(r: &$row) -> Result<crate::domain::notification::DueNotification> {
            use sqlx::Row;
            Ok(crate::domain::notification::DueNotification {
                id: r.try_get("id").map_err(db_error)?,
                tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                limit_id: r.try_get("limit_id").map_err(db_error)?,
                notification_id: r.try_get("rule_id").map_err(db_error)?,
                call_url: r.try_get("call_url").map_err(db_error)?,
                metric: r.try_get("metric").map_err(db_error)?,
                period_start: r.try_get("period_start").map_err(db_error)?,
                period_end: r.try_get("period_end").map_err(db_error)?,
                threshold: r.try_get("threshold").map_err(db_error)?,
                usage: r.try_get("usage").map_err(db_error)?,
                attempts: r.try_get("attempts").map_err(db_error)?,
                kind: crate::domain::notification::EventKind::parse(
                    &r.try_get::<String, _>("kind").map_err(db_error)?,
                ),
                per_value: r.try_get("per_value").map_err(db_error)?,
                target_id: r.try_get("target_id").map_err(db_error)?,
                payload: r.try_get("payload").map_err(db_error)?,
            })
        }

        const LIMIT_COLUMNS: &str =
            concat!("SELECT ", $crate::store::limit_steps::limit_columns!(), " FROM limits");

        fn limit_from(r: &$row) -> Result<Limit> {
            use sqlx::Row;
            let corrupt = |what: &str| Error::Internal(format!("a stored limit has a bad {what}"));
            let selector: String = r.try_get("selector").map_err(db_error)?;
            let selector: std::collections::BTreeMap<String, String> =
                serde_json::from_str(&selector).map_err(|_| corrupt("selector"))?;
            let window: String = r.try_get("window_spec").map_err(db_error)?;
            let window: WindowSpec = serde_json::from_str(&window).map_err(|_| corrupt("window"))?;
            let per: String = r.try_get("per").map_err(db_error)?;
            let per: Vec<String> = serde_json::from_str(&per).map_err(|_| corrupt("per"))?;
            Ok(Limit {
                tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                id: r.try_get("id").map_err(db_error)?,
                selector: Subject::trusted(selector),
                metric: r.try_get("metric").map_err(db_error)?,
                amount: Amount::from_stored(r.try_get("amount").map_err(db_error)?),
                window: Window::try_from(window).map_err(|_| corrupt("window"))?,
                blocking: r.try_get("blocking").map_err(db_error)?,
                owner: r.try_get("owner").map_err(db_error)?,
                per,
                family: r.try_get("family").map_err(db_error)?,
                expires_at: r.try_get("expires_at").map_err(db_error)?,
                mode: if r.try_get("shadow").map_err(db_error)? {
                    crate::domain::limit::Mode::Shadow
                } else {
                    crate::domain::limit::Mode::Enforce
                },
                created_at: r.try_get("created_at").map_err(db_error)?,
                updated_at: r.try_get("updated_at").map_err(db_error)?,
            })
        }

        const CLIENT_QUOTA_COLUMNS: &str = "SELECT tenant_id, id, environment_id, cluster_id, \
            display_name, description, ingress_byte_rate, egress_byte_rate, principals, \
            created_at, updated_at FROM confluent_client_quotas";

        fn client_quota_from(r: &$row) -> Result<$crate::domain::confluent::ClientQuota> {
            use sqlx::Row;
            let principals: String = r.try_get("principals").map_err(db_error)?;
            let principals: Vec<String> = serde_json::from_str(&principals)
                .map_err(|_| Error::Internal("a stored client quota has bad principals".into()))?;
            Ok($crate::domain::confluent::ClientQuota {
                tenant_id: r.try_get("tenant_id").map_err(db_error)?,
                id: r.try_get("id").map_err(db_error)?,
                environment: r.try_get("environment_id").map_err(db_error)?,
                cluster: r.try_get("cluster_id").map_err(db_error)?,
                display_name: r.try_get("display_name").map_err(db_error)?,
                description: r.try_get("description").map_err(db_error)?,
                throughput: $crate::domain::confluent::Throughput {
                    ingress_byte_rate: r.try_get("ingress_byte_rate").map_err(db_error)?,
                    egress_byte_rate: r.try_get("egress_byte_rate").map_err(db_error)?,
                },
                principals,
                created_at: r.try_get("created_at").map_err(db_error)?,
                updated_at: r.try_get("updated_at").map_err(db_error)?,
            })
        }

        /// The steps of client quota writes, inside one transaction.
        mod confluent_steps {
            use super::*;
            use $crate::domain::aggregate::Written;
            use $crate::domain::confluent::{ClientQuota, PrincipalClash};

            type Tx<'c> = sqlx::Transaction<'c, $db>;

            /// The first principal of `q` that another client quota on its cluster names.
            pub async fn clash(tx: &mut Tx<'_>, q: &ClientQuota) -> Result<Option<PrincipalClash>> {
                for principal in &q.principals {
                    let other: Option<String> = sqlx::query_scalar(
                        "SELECT quota_id FROM confluent_client_quota_principals \
                         WHERE tenant_id = $1 AND environment_id = $2 AND cluster_id = $3 \
                         AND principal_id = $4 AND quota_id <> $5",
                    )
                    .bind(q.tenant_id)
                    .bind(&q.environment)
                    .bind(&q.cluster)
                    .bind(principal)
                    .bind(&q.id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
                    if let Some(quota_id) = other {
                        return Ok(Some(PrincipalClash {
                            principal: principal.clone(),
                            quota_id,
                        }));
                    }
                }
                Ok(None)
            }

            /// Writes the quota's row.
            pub async fn insert_row(tx: &mut Tx<'_>, q: &ClientQuota) -> Result<()> {
                let principals = serde_json::to_string(&q.principals)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO confluent_client_quotas (tenant_id, id, environment_id, cluster_id, \
                     display_name, description, ingress_byte_rate, egress_byte_rate, principals, \
                     created_us, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(q.tenant_id)
                .bind(&q.id)
                .bind(&q.environment)
                .bind(&q.cluster)
                .bind(&q.display_name)
                .bind(&q.description)
                .bind(q.throughput.ingress_byte_rate)
                .bind(q.throughput.egress_byte_rate)
                .bind(&principals)
                .bind(q.created_at.timestamp_micros())
                .bind(q.created_at)
                .bind(q.updated_at)
                .execute(&mut **tx)
                .await
                .map(drop)
                .map_err(db_error)
            }

            /// Replaces the quota's mutable parts and principals; `Missing` when it is gone.
            pub async fn update_row(tx: &mut Tx<'_>, q: &ClientQuota) -> Result<Written> {
                let principals = serde_json::to_string(&q.principals)
                        .map_err(|e| Error::Internal(e.to_string()))?;
                    let updated = sqlx::query(
                        "UPDATE confluent_client_quotas SET display_name = $3, description = $4, \
                         ingress_byte_rate = $5, egress_byte_rate = $6, principals = $7, \
                         updated_at = $8 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(q.tenant_id)
                    .bind(&q.id)
                    .bind(&q.display_name)
                    .bind(&q.description)
                    .bind(q.throughput.ingress_byte_rate)
                    .bind(q.throughput.egress_byte_rate)
                    .bind(&principals)
                    .bind(q.updated_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                    if updated == 0 {
                        return Ok(Written::Missing);
                    }
                    sqlx::query(
                        "DELETE FROM confluent_client_quota_principals \
                         WHERE tenant_id = $1 AND quota_id = $2",
                    )
                    .bind(q.tenant_id)
                    .bind(&q.id)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                    insert_principals(tx, q).await?;
                Ok(Written::Done)
            }

            /// Claims each principal of `q` on its cluster (a unique key refuses a second claim).
            pub async fn insert_principals(tx: &mut Tx<'_>, q: &ClientQuota) -> Result<()> {
                for principal in &q.principals {
                    sqlx::query(
                        "INSERT INTO confluent_client_quota_principals \
                         (tenant_id, environment_id, cluster_id, principal_id, quota_id) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(q.tenant_id)
                    .bind(&q.environment)
                    .bind(&q.cluster)
                    .bind(principal)
                    .bind(&q.id)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use shared_store;
