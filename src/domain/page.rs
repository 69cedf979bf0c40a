//! Keyset pages of the native lists (tenants, keys, limits): a page is read from the store after
//! the position an opaque cursor names, so no list is ever built whole in memory and a page stays
//! right while rows are added or removed before it.

use std::future::Future;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::limit::Limit;
use super::principal::ApiKey;
use super::tenant::Tenant;
use super::{Error, Result};

/// Items per page when the client names no `limit`.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most items a page may hold.
pub const MAX_LIMIT: u32 = 1000;

/// Where a page starts: after the row at `(created_at, id)` (lists ordered by creation) or after
/// `id` (lists ordered by id, where `created_at` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: Option<DateTime<Utc>>,
    pub id: String,
}

/// The version tag of the cursor's text, so its form can change without misreading old ones.
const VERSION: &str = "1";

impl Cursor {
    /// The cursor's opaque text (URL-safe base64, nothing a client should read or build).
    pub fn encode(&self) -> String {
        let at = self
            .created_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .unwrap_or_default();
        URL_SAFE_NO_PAD.encode(format!("{VERSION}\n{at}\n{}", self.id))
    }

    /// Reads a cursor's text; anything this server did not make is a 400 naming `cursor`.
    pub fn decode(text: &str) -> Result<Self> {
        let bad = || Error::invalid_query("cursor", "not a cursor this server gave");
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.splitn(3, '\n');
        let (Some(VERSION), Some(at), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let created_at = match at {
            "" => None,
            at => Some(
                DateTime::parse_from_rfc3339(at)
                    .map_err(|_| bad())?
                    .with_timezone(&Utc),
            ),
        };
        Ok(Self {
            created_at,
            id: id.to_owned(),
        })
    }
}

/// What a client asked for: at most `limit` items after `after` (from the start when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

impl PageRequest {
    /// A request from the `limit` and `cursor` query parameters as given; a bad one is a 400
    /// naming the parameter.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    Error::invalid_query(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    )
                })?,
        };
        let after = cursor.map(Cursor::decode).transpose()?;
        Ok(Self { limit, after })
    }
}

/// One page: its items and, when more may follow, the cursor of the next page.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Paged<T> {
    /// The same page with each item changed by `f`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// The store's side of paging: each list read one page at a time, in a stable order. A row that
/// cannot be read is left out of its page (logged), never failing the page, and never moving
/// the cursor backwards.
pub trait PageStore: Send + Sync {
    /// Tenants in `(created_at, id)` order.
    fn tenants_page(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Paged<Tenant>>> + Send;
    /// A tenant's keys in `(created_at, id)` order.
    fn keys_page(
        &self,
        tenant_id: Uuid,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Paged<ApiKey>>> + Send;
    /// A tenant's limits in id order.
    fn limits_page(
        &self,
        tenant_id: Uuid,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Paged<Limit>>> + Send;
    /// A tenant's limits owned by one of `owners` (each a bound parameter: a catalogue's worth,
    /// not tens of thousands), in id order.
    fn owned_limits_page(
        &self,
        tenant_id: Uuid,
        owners: &[String],
        page: &PageRequest,
    ) -> impl Future<Output = Result<Paged<Limit>>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_written() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456789Z")
            .expect("time")
            .with_timezone(&Utc);
        for cursor in [
            Cursor {
                created_at: Some(at),
                id: "key\nwith newline".into(),
            },
            Cursor {
                created_at: None,
                id: "limit-1".into(),
            },
        ] {
            assert_eq!(Cursor::decode(&cursor.encode()).expect("decodes"), cursor);
        }
    }

    #[test]
    fn a_bad_limit_or_cursor_is_refused_naming_the_parameter() {
        for (limit, cursor, named) in [
            (Some("0"), None, "limit"),
            (Some("1001"), None, "limit"),
            (Some("ten"), None, "limit"),
            (None, Some("!!"), "cursor"),
            (None, Some("Mgpmb28"), "cursor"),
        ] {
            match PageRequest::parse(limit, cursor) {
                Err(Error::Invalid { field, .. }) => assert_eq!(field.name(), named),
                other => panic!("{limit:?} {cursor:?}: {other:?}"),
            }
        }
        assert_eq!(
            PageRequest::parse(None, None).expect("default"),
            PageRequest::default()
        );
    }
}
