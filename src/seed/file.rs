//! The seed file's shape, read from YAML or JSON so that a bad value names its path.

use std::path::Path;

use serde::Deserialize;
use uuid::Uuid;

use crate::api::native::{LimitPut, QuotaTemplatePut};
use crate::domain::{Error, Field, Result};

/// A whole seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    #[serde(default)]
    pub tenants: Vec<SeedTenant>,
}

/// A tenant and everything it owns. Lists are applied in the order written here: keys, limits,
/// then the vendor quotas (templates before the quotas that name them; Waldur users must have a
/// key first).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedTenant {
    /// Fixed, so pipelines can name it (it is also the ZITADEL `instanceId`).
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub keys: Vec<SeedKey>,
    /// Native limits, each the body of `PUT /v1/limits/{id}` with its `id`.
    #[serde(default)]
    pub limits: Vec<SeedLimit>,
    /// Confluent client quotas: bodies of `POST /kafka-quotas/v1/client-quotas`, identified by
    /// `display_name` on their environment's cluster.
    #[serde(default)]
    pub confluent_client_quotas: Vec<serde_json::Value>,
    /// DataRobot quota templates: the body of `PUT /v1/quota-templates/{id}` with its `id`.
    #[serde(default)]
    pub datarobot_templates: Vec<SeedTemplate>,
    /// DataRobot quotas: bodies of `POST /api/v2/quotas/` (one per resource).
    #[serde(default)]
    pub datarobot_quotas: Vec<serde_json::Value>,
    /// Waldur user limits: bodies of `POST /api/chat-quota/set_quota/`.
    #[serde(default)]
    pub waldur_user_limits: Vec<serde_json::Value>,
    /// ZITADEL instance quotas of this tenant: bodies of SetQuota.
    #[serde(default)]
    pub zitadel_quotas: Vec<serde_json::Value>,
}

/// A key with a fixed id and secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedKey {
    /// 1 to 64 letters, digits, `-` or `_` (the user name of Basic auth).
    pub id: String,
    /// At least 16 characters; only its hash is stored.
    pub secret: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub user_id: Option<Uuid>,
    #[serde(default)]
    pub description: String,
}

/// A native limit: its id and the body of `PUT /v1/limits/{id}`.
#[derive(Debug, Deserialize)]
pub struct SeedLimit {
    pub id: String,
    #[serde(flatten)]
    pub body: LimitPut,
}

/// A DataRobot quota template: its id and the body of `PUT /v1/quota-templates/{id}`.
#[derive(Debug, Deserialize)]
pub struct SeedTemplate {
    pub id: String,
    #[serde(flatten)]
    pub body: QuotaTemplatePut,
}

impl SeedFile {
    /// Reads `path`: JSON when it ends in `.json`, else YAML (of which JSON is nearly a subset).
    pub fn read(path: &Path) -> Result<SeedFile> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Invalid {
            field: Field::Body(String::new()),
            message: format!("seed file {}: cannot be read: {e}", path.display()),
        })?;
        let json = path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("json"));
        Self::parse(&text, json).map_err(|(at, why)| Error::Invalid {
            field: Field::Body(at.clone()),
            message: format!("seed file {}: {at}: {why}", path.display()),
        })
    }

    /// Parses `text`; a failure is (the path of the bad value, what is wrong).
    pub fn parse(text: &str, json: bool) -> Result<SeedFile, (String, String)> {
        if json {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut de)
                .map_err(|e| (path_or_top(e.path().to_string()), e.inner().to_string()))
        } else {
            let de = serde_norway::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de)
                .map_err(|e| (path_or_top(e.path().to_string()), e.inner().to_string()))
        }
    }
}

fn path_or_top(path: String) -> String {
    if path == "." {
        "the top level".into()
    } else {
        path
    }
}
