//! ZITADEL's system API users: a user id and an RSA public key each, configured on the server
//! (`--system-api-users FILE`, as ZITADEL's `SystemAPIUsers`). Such a user calls the system API
//! with a JWT it signs itself: `Authorization: Bearer <JWT>`, RS256, `iss` = `sub` = its id, `aud`
//! = the server's public URL (or one of `--system-api-audience`), short-lived. Signatures are
//! checked by the `jsonwebtoken` crate; only RS256 is accepted, so `alg: none` and HMAC tokens
//! (such as HS256 keyed with the public key) are refused before any key is used.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// How far in the past `iat` may lie (ZITADEL's system token verifier: one hour), and how far in
/// the future clocks may disagree.
const MAX_TOKEN_AGE_SECONDS: i64 = 3600;
const LEEWAY_SECONDS: u64 = 60;

/// One user's entry in the file: the key's path, or the key itself (PEM, or base64 of the PEM
/// as ZITADEL's `KeyData`).
#[derive(Debug, Deserialize)]
struct UserEntry {
    #[serde(default, alias = "Path")]
    path: Option<PathBuf>,
    #[serde(default, rename = "keyData", alias = "KeyData", alias = "key_data")]
    key_data: Option<String>,
}

/// The file: a map from user id to entry, or ZITADEL's list of one-entry maps.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum UsersFile {
    Map(BTreeMap<String, UserEntry>),
    List(Vec<BTreeMap<String, UserEntry>>),
}

/// The configured system API users and the audiences their tokens must name.
#[derive(Clone, Default)]
pub struct SystemApiUsers {
    keys: HashMap<String, DecodingKey>,
    audiences: Vec<String>,
}

impl std::fmt::Debug for SystemApiUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut users: Vec<_> = self.keys.keys().collect();
        users.sort();
        f.debug_struct("SystemApiUsers")
            .field("users", &users)
            .field("audiences", &self.audiences)
            .finish()
    }
}

/// Why a token is refused (logged at debug level, never shown to the caller).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("not a JWT")]
    Malformed,
    #[error("algorithm {0:?} is not RS256")]
    Algorithm(String),
    #[error("unknown system API user {0:?}")]
    UnknownUser(String),
    #[error("issued too long ago or in the future")]
    IssuedAt,
    #[error(transparent)]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// The claims read before the signature is checked, only to choose the key.
#[derive(Deserialize)]
struct Unverified {
    #[serde(default)]
    iss: Option<String>,
}

/// The claims of a verified token.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
}

impl SystemApiUsers {
    /// Users from `keys` (user id, public key PEM), accepting tokens for `audiences`.
    pub fn new(keys: &[(String, String)], audiences: Vec<String>) -> Result<Self, String> {
        let keys = keys
            .iter()
            .map(|(id, pem)| {
                DecodingKey::from_rsa_pem(pem.as_bytes())
                    .map(|key| (id.clone(), key))
                    .map_err(|e| format!("system API user {id:?}: not an RSA public key: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            keys,
            audiences: audiences.iter().flat_map(|a| variants(a)).collect(),
        })
    }

    /// Reads the users file (YAML or JSON); a relative `path` is read from the file's folder.
    pub fn load(file: &Path, audiences: Vec<String>) -> Result<Self, String> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let parsed: UsersFile = serde_norway::from_str(&text)
            .map_err(|e| format!("{}: not a map of system API users: {e}", file.display()))?;
        let entries: Vec<(String, UserEntry)> = match parsed {
            UsersFile::Map(map) => map.into_iter().collect(),
            UsersFile::List(list) => list.into_iter().flatten().collect(),
        };
        let folder = file.parent().unwrap_or(Path::new("."));
        let mut keys = Vec::new();
        for (id, entry) in entries {
            let pem = match (entry.path, entry.key_data) {
                (Some(path), None) => {
                    let path = folder.join(path);
                    std::fs::read_to_string(&path)
                        .map_err(|e| format!("system API user {id:?}: {}: {e}", path.display()))?
                }
                (None, Some(data)) => pem_of(&data)
                    .ok_or_else(|| format!("system API user {id:?}: keyData is no PEM key"))?,
                _ => return Err(format!("system API user {id:?}: give path or keyData")),
            };
            keys.push((id, pem));
        }
        Self::new(&keys, audiences)
    }

    /// Whether any user is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The user a token proves, if it is a valid RS256 JWT of a configured user for one of the
    /// audiences, unexpired and issued within the last hour.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<String, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let payload = token.split('.').nth(1).ok_or(TokenError::Malformed)?;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| TokenError::Malformed)?;
        let user = serde_json::from_slice::<Unverified>(&payload)
            .map_err(|_| TokenError::Malformed)?
            .iss
            .ok_or(TokenError::Malformed)?;
        let key = self
            .keys
            .get(&user)
            .ok_or_else(|| TokenError::UnknownUser(user.clone()))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_audience(&self.audiences);
        validation.set_issuer(&[&user]);
        validation.sub = Some(user.clone());
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)?.claims;
        let age = now.timestamp() - claims.iat;
        let leeway = LEEWAY_SECONDS as i64;
        if age > MAX_TOKEN_AGE_SECONDS + leeway || age < -leeway {
            return Err(TokenError::IssuedAt);
        }
        Ok(claims.sub)
    }
}

/// An audience with and without a trailing slash (`https://host` and `https://host/` name the
/// same server).
fn variants(audience: &str) -> Vec<String> {
    let bare = audience.trim_end_matches('/');
    vec![bare.to_owned(), format!("{bare}/")]
}

/// A key given inline: PEM text as it is, or base64 of it.
fn pem_of(data: &str) -> Option<String> {
    let data = data.trim();
    if data.starts_with("-----BEGIN") {
        return Some(data.to_owned());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.split_whitespace().collect::<String>())
        .ok()?;
    String::from_utf8(decoded)
        .ok()
        .filter(|pem| pem.trim_start().starts_with("-----BEGIN"))
}

/// Whether a bearer value has the shape of a JWT (three base64url parts), as opposed to one of
/// quotaplane's own secrets.
pub fn looks_like_jwt(value: &str) -> bool {
    let parts: Vec<&str> = value.split('.').collect();
    parts.len() == 3 && parts[..2].iter().all(|p| !p.is_empty()) && value.starts_with("eyJ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_keys_may_be_pem_or_base64_of_pem() {
        let pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert_eq!(pem_of(pem).as_deref(), Some(pem.trim()));
        let encoded = base64::engine::general_purpose::STANDARD.encode(pem);
        assert_eq!(pem_of(&encoded).as_deref(), Some(pem));
        assert_eq!(pem_of("bm90IGEga2V5"), None);
    }

    #[test]
    fn audiences_match_with_or_without_a_trailing_slash() {
        assert_eq!(
            variants("https://q.example/"),
            vec!["https://q.example", "https://q.example/"]
        );
    }

    #[test]
    fn only_three_part_tokens_look_like_jwts() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"));
        assert!(!looks_like_jwt("qps_abcdef"));
        assert!(!looks_like_jwt("eyJ.x"));
    }

    #[test]
    fn the_users_file_is_a_map_or_zitadels_list_with_either_capitalisation() {
        let ids = |text: &str| -> Vec<(String, bool, bool)> {
            let entries = match serde_norway::from_str::<UsersFile>(text).expect("parses") {
                UsersFile::Map(map) => map.into_iter().collect::<Vec<_>>(),
                UsersFile::List(list) => list.into_iter().flatten().collect(),
            };
            entries
                .into_iter()
                .map(|(id, e)| (id, e.path.is_some(), e.key_data.is_some()))
                .collect()
        };
        let expected = vec![("a".to_owned(), true, false), ("b".to_owned(), false, true)];
        assert_eq!(ids("a:\n  path: a.pub\nb:\n  keyData: x\n"), expected);
        assert_eq!(
            ids("- a:\n    Path: a.pub\n- b:\n    KeyData: x\n"),
            expected
        );
        assert_eq!(
            ids(r#"{"a": {"path": "a.pub"}, "b": {"keyData": "x"}}"#),
            expected
        );
    }

    #[test]
    fn a_token_of_no_configured_user_is_refused() {
        let users = SystemApiUsers::default();
        assert!(matches!(
            users.verify("not-a-token", Utc::now()),
            Err(TokenError::Malformed)
        ));
    }
}
