//! Page tokens of the client quota list: the position after the last item served (keyset
//! `(created_at, id)`, so inserts never shift a page) and the page size, signed with an HMAC whose
//! key is kept in the store, so a token survives restarts, works on every replica, and cannot be
//! forged or moved to another tenant, environment or cluster.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::domain::ports::*;
use crate::domain::{Error, Result};
use chrono::{DateTime, Utc};
use rand::RngCore;

/// The name under which the key that signs page tokens is stored.
const KEY_NAME: &str = "page_token_hmac";

/// The key that signs the Confluent surfaces' page tokens: made once, kept in the store.
pub async fn key(store: &impl ConfluentStore, now: DateTime<Utc>) -> Result<Vec<u8>> {
    let mut candidate = vec![0u8; 32];
    rand::rng().fill_bytes(&mut candidate);
    store.confluent_secret(KEY_NAME, &candidate, now).await
}

/// The query parameter a bad token is reported on.
pub const PARAMETER: &str = "page_token";
/// Longest token accepted (the vendor's `maxLength`).
pub const MAX_TOKEN_CHARS: usize = 255;
/// Bytes of the HMAC kept in a token.
const MAC_BYTES: usize = 16;
const VERSION: u8 = 1;

/// Where the next page starts, and how long pages are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// `created_at` of the last item served, in microseconds since the epoch.
    pub created_us: i64,
    /// `id` of the last item served.
    pub id: String,
    pub page_size: u32,
}

/// What a token is bound to: it is only valid for the same list.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub tenant_id: Uuid,
    pub environment: &'a str,
    pub cluster: &'a str,
}

/// The token for `cursor` in `scope`.
pub fn seal(key: &[u8], scope: Scope<'_>, cursor: &Cursor) -> Result<String> {
    let mut bytes = payload(cursor);
    let mut mac = keyed(key)?;
    feed(&mut mac, scope, &bytes);
    bytes.extend_from_slice(&mac.finalize().into_bytes()[..MAC_BYTES]);
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The cursor of `token`, if it was sealed with `key` for `scope`.
pub fn open(key: &[u8], scope: Scope<'_>, token: &str) -> Result<Cursor> {
    let invalid = || Error::invalid_query(PARAMETER, "the page token is not valid for this list");
    if token.len() > MAX_TOKEN_CHARS {
        return Err(invalid());
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid())?;
    if bytes.len() < 10 + MAC_BYTES {
        return Err(invalid());
    }
    let (body, tag) = bytes.split_at(bytes.len() - MAC_BYTES);
    let mut check = keyed(key)?;
    feed(&mut check, scope, body);
    check.verify_truncated_left(tag).map_err(|_| invalid())?;
    let (version, rest) = body.split_first().ok_or_else(invalid)?;
    let (created, rest) = rest.split_at_checked(8).ok_or_else(invalid)?;
    let (size, id) = rest.split_first().ok_or_else(invalid)?;
    if *version != VERSION {
        return Err(invalid());
    }
    Ok(Cursor {
        created_us: i64::from_be_bytes(created.try_into().map_err(|_| invalid())?),
        id: String::from_utf8(id.to_vec()).map_err(|_| invalid())?,
        page_size: u32::from(*size),
    })
}

fn payload(cursor: &Cursor) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(10 + cursor.id.len() + MAC_BYTES);
    bytes.push(VERSION);
    bytes.extend_from_slice(&cursor.created_us.to_be_bytes());
    bytes.push(u8::try_from(cursor.page_size).unwrap_or(u8::MAX));
    bytes.extend_from_slice(cursor.id.as_bytes());
    bytes
}

fn keyed(key: &[u8]) -> Result<Hmac<Sha256>> {
    <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|_| Error::Internal("the page token key is unusable".into()))
}

fn feed(mac: &mut Hmac<Sha256>, scope: Scope<'_>, body: &[u8]) {
    for part in [
        scope.tenant_id.as_bytes().as_slice(),
        scope.environment.as_bytes(),
        scope.cluster.as_bytes(),
    ] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.update(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(cluster: &str) -> Scope<'_> {
        Scope {
            tenant_id: Uuid::nil(),
            environment: "env-1",
            cluster,
        }
    }

    #[test]
    fn a_token_opens_to_its_cursor_in_its_own_scope_only() {
        let cursor = Cursor {
            created_us: 1_700_000_000_123_456,
            id: "cq-abc12345".into(),
            page_size: 10,
        };
        let token = seal(b"key", scope("lkc-1"), &cursor).expect("sealed");
        assert!(token.len() <= MAX_TOKEN_CHARS);
        assert_eq!(open(b"key", scope("lkc-1"), &token).ok(), Some(cursor));
        assert!(open(b"key", scope("lkc-2"), &token).is_err());
        assert!(open(b"other", scope("lkc-1"), &token).is_err());
    }

    #[test]
    fn a_changed_or_garbage_token_is_refused() {
        let cursor = Cursor {
            created_us: 5,
            id: "cq-x".into(),
            page_size: 3,
        };
        let token = seal(b"key", scope("c"), &cursor).expect("sealed");
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token)
            .expect("base64");
        bytes[3] ^= 1;
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert!(open(b"key", scope("c"), &forged).is_err());
        for garbage in ["", "x", "!!!!", &"A".repeat(300)] {
            assert!(open(b"key", scope("c"), garbage).is_err(), "{garbage}");
        }
    }
}
