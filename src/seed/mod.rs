//! CI mode's declared starting state: a seed file (YAML or JSON) of tenants with fixed ids, keys
//! with fixed ids and secrets, native limits and vendor quotas in each vendor's request shape,
//! applied idempotently through the domain services before the server takes traffic.

mod apply;
mod confluent;
mod datarobot;
mod file;

use std::path::Path;

pub use apply::{Applied, apply};
pub use file::{SeedFile, SeedKey, SeedLimit, SeedTemplate, SeedTenant};

use crate::domain::{Error, Field, Result};
use crate::state::AppState;

/// Reads `path` and applies it to `state`'s store. A bad file or entry is an `Invalid` error
/// whose message names the file, the entry and the field.
pub async fn apply_file(state: &AppState, path: &Path) -> Result<Applied> {
    let seed = SeedFile::read(path)?;
    apply(state, &seed).await.map_err(|e| in_file(path, e))
}

/// `e`, with the file's name in front of its message.
fn in_file(path: &Path, e: Error) -> Error {
    match e {
        Error::Invalid { field, message } => Error::Invalid {
            field,
            message: format!("seed file {}: {message}", path.display()),
        },
        other => Error::Invalid {
            field: Field::Body(String::new()),
            message: format!("seed file {}: {other}", path.display()),
        },
    }
}
