//! Keyset pages of the native lists ([`crate::domain::page`]): the SQL is the same in both
//! dialects; [`page_store!`] expands it for a backend beside `shared_store!` (whose row readers
//! it reuses).

use uuid::Uuid;

use super::{AnyStore, dispatch};
use crate::domain::Result;
use crate::domain::limit::Limit;
use crate::domain::page::{PageRequest, PageStore, Paged};
use crate::domain::principal::ApiKey;
use crate::domain::tenant::Tenant;

/// Implements [`PageStore`] for a backend struct with a `pool` field.
macro_rules! page_store {
    ($store:ty, $row:ty) => {
        impl $crate::domain::page::PageStore for $store {
            async fn tenants_page(
                &self,
                page: &$crate::domain::page::PageRequest,
            ) -> Result<$crate::domain::page::Paged<Tenant>> {
                let base = "SELECT id, name, created_at FROM tenants";
                let rows = match &page.after {
                    None => {
                        sqlx::query(&format!("{base} ORDER BY created_at, id LIMIT $1"))
                            .bind(fetched(page))
                            .fetch_all(&self.pool)
                            .await
                    }
                    Some(after) => {
                        let (at, id) = page_steps::created_and_id(after)?;
                        let id = Uuid::parse_str(&id).map_err(|_| page_steps::bad_cursor())?;
                        sqlx::query(&format!(
                            "{base} WHERE created_at > $1 OR (created_at = $1 AND id > $2) \
                             ORDER BY created_at, id LIMIT $3"
                        ))
                        .bind(at)
                        .bind(id)
                        .bind(fetched(page))
                        .fetch_all(&self.pool)
                        .await
                    }
                }
                .map_err(db_error)?;
                page_steps::paged(
                    page,
                    &rows,
                    true,
                    |r| tenant_from(r),
                    "tenant",
                    |r| {
                        use sqlx::Row;
                        r.try_get::<Uuid, _>("id").map(|id| id.to_string())
                    },
                )
            }

            async fn keys_page(
                &self,
                tenant_id: Uuid,
                page: &$crate::domain::page::PageRequest,
            ) -> Result<$crate::domain::page::Paged<ApiKey>> {
                let rows =
                    match &page.after {
                        None => sqlx::query(&format!(
                            "{KEY_COLUMNS} WHERE tenant_id = $1 ORDER BY created_at, id LIMIT $2"
                        ))
                        .bind(tenant_id)
                        .bind(fetched(page))
                        .fetch_all(&self.pool)
                        .await,
                        Some(after) => {
                            let (at, id) = page_steps::created_and_id(after)?;
                            sqlx::query(&format!(
                                "{KEY_COLUMNS} WHERE tenant_id = $1 \
                             AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
                             ORDER BY created_at, id LIMIT $4"
                            ))
                            .bind(tenant_id)
                            .bind(at)
                            .bind(id)
                            .bind(fetched(page))
                            .fetch_all(&self.pool)
                            .await
                        }
                    }
                    .map_err(db_error)?;
                page_steps::paged(
                    page,
                    &rows,
                    true,
                    |r| key_from(r),
                    "api key",
                    page_steps::text_id,
                )
            }

            async fn limits_page(
                &self,
                tenant_id: Uuid,
                page: &$crate::domain::page::PageRequest,
            ) -> Result<$crate::domain::page::Paged<Limit>> {
                let after = page.after.as_ref().map(|c| c.id.as_str()).unwrap_or("");
                // Every id is longer than "", so the first page needs no other statement.
                let rows = sqlx::query(&format!(
                    "{LIMIT_COLUMNS} WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                ))
                .bind(tenant_id)
                .bind(after)
                .bind(fetched(page))
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                page_steps::paged(
                    page,
                    &rows,
                    false,
                    |r| limit_from(r),
                    "limit",
                    page_steps::text_id,
                )
            }

            async fn owned_limits_page(
                &self,
                tenant_id: Uuid,
                owners: &[String],
                page: &$crate::domain::page::PageRequest,
            ) -> Result<$crate::domain::page::Paged<Limit>> {
                if owners.is_empty() {
                    return Ok($crate::domain::page::Paged {
                        items: Vec::new(),
                        next: None,
                    });
                }
                let after = page.after.as_ref().map(|c| c.id.as_str()).unwrap_or("");
                let marks: Vec<String> = (0..owners.len()).map(|i| format!("${}", i + 4)).collect();
                let sql = format!(
                    "{LIMIT_COLUMNS} WHERE tenant_id = $1 AND id > $2 AND owner IN ({}) \
                     ORDER BY id LIMIT $3",
                    marks.join(", ")
                );
                let mut query = sqlx::query(&sql)
                    .bind(tenant_id)
                    .bind(after)
                    .bind(fetched(page));
                for owner in owners {
                    query = query.bind(owner);
                }
                let rows = query.fetch_all(&self.pool).await.map_err(db_error)?;
                page_steps::paged(
                    page,
                    &rows,
                    false,
                    |r| limit_from(r),
                    "limit",
                    page_steps::text_id,
                )
            }
        }

        /// One more row than the page holds: whether it exists says whether a next page does.
        fn fetched(page: &$crate::domain::page::PageRequest) -> i64 {
            i64::from(page.limit) + 1
        }

        /// The parts of a page read the same way for every list.
        mod page_steps {
            use super::*;
            use $crate::domain::page::{Cursor, PageRequest, Paged};

            pub fn bad_cursor() -> Error {
                Error::invalid_query("cursor", "not a cursor this server gave")
            }

            /// The position of a cursor of a list in creation order.
            pub fn created_and_id(
                cursor: &Cursor,
            ) -> Result<(chrono::DateTime<chrono::Utc>, String)> {
                let at = cursor.created_at.ok_or_else(bad_cursor)?;
                Ok((at, cursor.id.clone()))
            }

            /// A row's `id` column, when it is text (keys and limits).
            pub fn text_id(r: &$row) -> std::result::Result<String, sqlx::Error> {
                use sqlx::Row;
                r.try_get::<String, _>("id")
            }

            /// The page of `rows` (read with one row more than asked): the readable items of
            /// the first `page.limit` rows, and the position of the last of them when more
            /// follow, taken from the raw row so an unreadable row never stalls the cursor.
            pub fn paged<T>(
                page: &PageRequest,
                rows: &[$row],
                by_creation: bool,
                read: impl Fn(&$row) -> Result<T>,
                what: &str,
                id_of: impl Fn(&$row) -> std::result::Result<String, sqlx::Error>,
            ) -> Result<Paged<T>> {
                use sqlx::Row;
                let shown = rows.len().min(page.limit as usize);
                let next = match rows.get(shown.wrapping_sub(1)) {
                    Some(last) if rows.len() > shown => Some(Cursor {
                        created_at: if by_creation {
                            Some(last.try_get("created_at").map_err(db_error)?)
                        } else {
                            None
                        },
                        id: id_of(last).map_err(db_error)?,
                    }),
                    _ => None,
                };
                let items = rows[..shown]
                    .iter()
                    .filter_map(|r| readable(read(r), what))
                    .collect::<Result<Vec<T>>>()?;
                Ok(Paged { items, next })
            }
        }
    };
}

pub(crate) use page_store;

impl PageStore for AnyStore {
    async fn tenants_page(&self, page: &PageRequest) -> Result<Paged<Tenant>> {
        dispatch!(self, s => s.tenants_page(page))
    }

    async fn keys_page(&self, tenant_id: Uuid, page: &PageRequest) -> Result<Paged<ApiKey>> {
        dispatch!(self, s => s.keys_page(tenant_id, page))
    }

    async fn limits_page(&self, tenant_id: Uuid, page: &PageRequest) -> Result<Paged<Limit>> {
        dispatch!(self, s => s.limits_page(tenant_id, page))
    }

    async fn owned_limits_page(
        &self,
        tenant_id: Uuid,
        owners: &[String],
        page: &PageRequest,
    ) -> Result<Paged<Limit>> {
        dispatch!(self, s => s.owned_limits_page(tenant_id, owners, page))
    }
}
