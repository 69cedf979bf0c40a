//! Confluent client quotas of a seed file, in Confluent's own `POST
//! /kafka-quotas/v1/client-quotas` shape, identified by their display name on their cluster.

use uuid::Uuid;

use super::apply::{Outcome, domain};
use crate::api::confluent::ClientQuotaCreate;
use crate::domain::audit::Actor;
use crate::domain::confluent::{Changes, ClientQuotas};
use crate::domain::ports::*;
use crate::domain::{Error, Result};
use crate::state::AppState;

/// Most client quotas one cluster is searched through for the seed's display name.
const MAX_SCANNED: i64 = 10_000;

/// A client quota: created through the Confluent service, updated when its description,
/// throughput or principals changed, or left.
pub(super) async fn client_quota(
    state: &AppState,
    tenant_id: Uuid,
    body: &serde_json::Value,
) -> Result<Outcome> {
    let text = serde_json::to_vec(body).map_err(|e| Error::invalid_body("", e.to_string()))?;
    let body: ClientQuotaCreate = crate::http::json::parse_json(&text).map_err(domain)?;
    let draft = body.into_draft()?;
    let service = ClientQuotas {
        store: &state.store,
        engine: &state.engine,
    };
    let now = state.clock.now();
    let on_cluster = state
        .store
        .client_quotas(
            tenant_id,
            &draft.environment,
            &draft.cluster,
            None,
            MAX_SCANNED,
        )
        .await?;
    let Some(old) = on_cluster
        .into_iter()
        .find(|q| q.display_name == draft.display_name)
    else {
        service
            .create(&Actor::start_up(), tenant_id, draft, now)
            .await?;
        return Ok(Outcome::Created);
    };
    if old.description == draft.description
        && old.throughput == draft.throughput
        && old.principals == draft.principals
    {
        return Ok(Outcome::Unchanged);
    }
    let changes = Changes {
        display_name: None,
        description: draft.description,
        throughput: Some(draft.throughput),
        principals: Some(draft.principals),
    };
    service
        .update(
            &Actor::start_up(),
            tenant_id,
            &old.id,
            Some(&old.environment),
            None,
            changes,
            now,
        )
        .await?;
    Ok(Outcome::Updated)
}
