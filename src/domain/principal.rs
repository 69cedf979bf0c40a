//! Principals and their credentials: API keys with roles, and the secrets that prove them.

use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{Error, Result};

/// What a key may do. `System` operates the whole installation; the others act within a tenant.
/// `Reporter` may set levels (`report`) of the limits no surface counts itself: for a service
/// that measures a resource and tells quotaplane, without the admin's other powers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    System,
    Admin,
    Staff,
    Support,
    User,
    Reporter,
}

impl Role {
    /// Every role, in the order they are written.
    pub const ALL: [Role; 6] = [
        Role::System,
        Role::Admin,
        Role::Staff,
        Role::Support,
        Role::User,
        Role::Reporter,
    ];

    /// The role's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Support => "support",
            Role::User => "user",
            Role::Reporter => "reporter",
        }
    }

    /// Reads a role by name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of roles, small enough to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles(u8);

impl Roles {
    /// Whether the set holds `role`.
    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// Whether the set holds any of `roles`.
    pub fn any(self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.contains(*r))
    }

    /// The roles, in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// The names, in canonical order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Role::as_str).collect()
    }

    /// Reads a list of role names; an unknown name or an empty list is refused.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self> {
        if names.is_empty() {
            return Err(Error::invalid_body("/roles", "roles must not be empty"));
        }
        names
            .iter()
            .enumerate()
            .try_fold(Roles::default(), |acc, (i, n)| {
                Role::parse(n.as_ref()).map(|r| acc.with(r)).ok_or_else(|| {
                    Error::invalid_body(
                        format!("/roles/{i}"),
                        "role must be one of system, admin, staff, support, user, reporter",
                    )
                })
            })
    }

    /// The set with `role` added.
    pub fn with(self, role: Role) -> Self {
        Roles(self.0 | role.bit())
    }

    /// The stored form: names joined by commas.
    pub fn to_stored(self) -> String {
        self.names().join(",")
    }

    /// Reads the stored form; unknown names (from a newer version) are skipped.
    pub fn from_stored(stored: &str) -> Self {
        stored
            .split(',')
            .filter_map(Role::parse)
            .fold(Roles::default(), Roles::with)
    }
}

/// A key's secret as a client holds it. Shown once at creation; only its hash is kept.
pub struct Secret(String);

impl Secret {
    /// A fresh secret: `qps_` and 32 base-62 characters (about 190 random bits).
    pub fn generate() -> Self {
        Secret(format!("qps_{}", random_alphanumeric(32)))
    }

    /// The shortest secret an operator may give: secrets are hashed with unsalted SHA-256,
    /// which is only safe when they cannot be guessed.
    pub const MIN_GIVEN_LEN: usize = 32;

    /// A secret given by the operator (the bootstrap token); refused below
    /// [`Secret::MIN_GIVEN_LEN`] characters. The message never repeats the value.
    pub fn from_given(value: String) -> Result<Self, String> {
        let len = value.trim().chars().count();
        if len < Self::MIN_GIVEN_LEN {
            return Err(format!(
                "the bootstrap token has {len} characters; it must have at least {} \
                 (for example `openssl rand -hex 24`)",
                Self::MIN_GIVEN_LEN
            ));
        }
        Ok(Secret(value))
    }

    /// The secret's text, to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the key is stored and found.
    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }
}

/// SHA-256 of a secret. Secrets carry at least 128 random bits, so a fast hash is enough: no
/// dictionary can reach them, and the hot path must not pay for a password hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// The hash of a presented secret.
    pub fn of(secret: &str) -> Self {
        SecretHash(Sha256::digest(secret.as_bytes()).into())
    }

    /// Compares in constant time, so the comparison leaks nothing about where two hashes differ.
    pub fn matches(&self, other: &SecretHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// Lower-case hex, the stored form.
    pub fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads the stored form.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(SecretHash(out))
    }
}

/// An API key: who it belongs to and what it may do. Never holds the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Public identifier, 16 upper-case letters and digits (the user name of Basic auth).
    pub id: String,
    pub tenant_id: Uuid,
    pub roles: Roles,
    /// The principal the key acts as.
    pub user_id: Option<Uuid>,
    pub description: String,
    pub secret_hash: SecretHash,
    pub created_at: DateTime<Utc>,
}

impl ApiKey {
    /// The longest description accepted.
    pub const MAX_DESCRIPTION_CHARS: usize = 500;

    /// A new key with a fresh id and secret; the secret is returned to be shown once.
    pub fn issue(
        tenant_id: Uuid,
        roles: Roles,
        user_id: Option<Uuid>,
        description: String,
        now: DateTime<Utc>,
    ) -> Result<(ApiKey, Secret)> {
        super::text::check_free_text(&description, Self::MAX_DESCRIPTION_CHARS, "/description")?;
        let secret = Secret::generate();
        let key = ApiKey {
            id: new_key_id(),
            tenant_id,
            roles,
            user_id,
            description,
            secret_hash: secret.hash(),
            created_at: now,
        };
        Ok((key, secret))
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: Uuid,
    pub key_id: String,
    pub user_id: Option<Uuid>,
    pub roles: Roles,
}

impl Caller {
    /// The caller a key authenticates.
    pub fn of(key: &ApiKey) -> Self {
        Caller {
            tenant_id: key.tenant_id,
            key_id: key.id.clone(),
            user_id: key.user_id,
            roles: key.roles,
        }
    }

    /// A ZITADEL system API user, proven by its self-signed JWT: a system principal of no
    /// tenant (the nil id), rate-limited under its own name.
    pub fn system_api_user(user_id: &str) -> Self {
        Caller {
            tenant_id: Uuid::nil(),
            key_id: format!("system-api-user:{user_id}"),
            user_id: None,
            roles: Roles::default().with(Role::System),
        }
    }

    /// Whether the caller operates the whole installation.
    pub fn is_system(&self) -> bool {
        self.roles.contains(Role::System)
    }

    /// Refuses the call unless the caller holds one of `roles` (`system` always passes).
    pub fn require_any(&self, roles: &[Role]) -> Result<()> {
        if self.is_system() || self.roles.any(roles) {
            Ok(())
        } else {
            let names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
            Err(Error::Forbidden(format!(
                "this call needs one of the roles: {}",
                names.join(", ")
            )))
        }
    }

    /// Refuses anything but a `system` key.
    pub fn require_system(&self) -> Result<()> {
        if self.is_system() {
            Ok(())
        } else {
            Err(Error::Forbidden("this call needs a system key".into()))
        }
    }

    /// Whether the caller may manage tenant `tenant_id`: a system key, or an admin of it.
    pub fn administers(&self, tenant_id: Uuid) -> bool {
        self.is_system() || (self.tenant_id == tenant_id && self.roles.contains(Role::Admin))
    }
}

fn new_key_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_stored_form() {
        let roles = Roles::parse(&["user", "admin"]).expect("valid roles");
        assert_eq!(roles.names(), vec!["admin", "user"]);
        assert_eq!(Roles::from_stored(&roles.to_stored()), roles);
    }

    #[test]
    fn an_unknown_role_is_refused_with_its_position() {
        let err = Roles::parse(&["admin", "root"]).expect_err("root is no role");
        assert!(
            matches!(err, Error::Invalid { field: super::super::Field::Body(p), .. } if p == "/roles/1")
        );
    }

    #[test]
    fn a_generated_secret_is_long_and_matches_only_its_own_hash() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert!(a.expose().len() >= 36);
        assert!(a.hash().matches(&SecretHash::of(a.expose())));
        assert!(!a.hash().matches(&b.hash()));
    }

    #[test]
    fn a_secret_hash_round_trips_through_hex() {
        let h = SecretHash::of("x");
        assert_eq!(SecretHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(SecretHash::from_hex("zz"), None);
    }

    #[test]
    fn system_passes_every_role_check_and_others_need_theirs() {
        let sys = Caller {
            tenant_id: Uuid::nil(),
            key_id: "K".into(),
            user_id: None,
            roles: Roles::default().with(Role::System),
        };
        let user = Caller {
            roles: Roles::default().with(Role::User),
            ..sys.clone()
        };
        assert!(sys.require_any(&[Role::Admin]).is_ok());
        assert!(user.require_any(&[Role::Admin]).is_err());
        assert!(user.require_any(&[Role::User]).is_ok());
    }
}
