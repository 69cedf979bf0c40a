//! Tenants: the organizations that own everything else.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Error, Result};

/// An organization. Every other row carries its id, and every query is scoped by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: Uuid,
    pub name: TenantName,
    pub created_at: DateTime<Utc>,
}

/// A tenant's display name: 1 to 200 characters, trimmed, without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantName(String);

impl TenantName {
    /// The longest name accepted.
    pub const MAX_CHARS: usize = 200;

    /// Checks a name as given by a client.
    pub fn parse(raw: &str) -> Result<Self> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Error::invalid_body("/name", "name must not be empty"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(Error::invalid_body(
                "/name",
                format!("name must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(Error::invalid_body(
                "/name",
                "name must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Tenant {
    /// A new tenant with a fresh id.
    pub fn new(name: TenantName, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            name,
            created_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed() {
        assert_eq!(
            TenantName::parse("  acme ").map(|n| n.0).ok(),
            Some("acme".into())
        );
    }

    #[test]
    fn an_empty_or_overlong_name_is_refused() {
        assert!(TenantName::parse("   ").is_err());
        assert!(TenantName::parse(&"x".repeat(201)).is_err());
        assert!(TenantName::parse(&"x".repeat(200)).is_ok());
        assert!(TenantName::parse("a\nb").is_err());
    }
}
