//! Enforcement: quotaplane's own resources take one unit of their applied quota before they are
//! created and give it back when they go. The unit counts on the scope reference's own limit
//! when it has one, else on its partition of the code's default (see [`super::defaults`]).

use uuid::Uuid;

use super::{
    API_KEYS, DATAROBOT_QUOTAS, KAFKA_CLIENT_QUOTAS, QuotaCode, ScopeRef, limit_id, partition,
    subject,
};
use crate::domain::aggregate::Unit;
use crate::domain::datarobot::{Page, QuotaFilter};
use crate::domain::ports::*;
use crate::domain::usage::{Engine, Usage};
use crate::domain::{Error, Result};

/// Takes one unit of `code` for `reference` in `tenant_id`, or refuses with
/// [`Error::LimitReached`] when the applied limit is reached. Atomic under concurrency: the
/// engine decides each consume in order against the counter.
pub async fn take(
    engine: &Engine<impl EngineStore>,
    tenant_id: Uuid,
    code: &QuotaCode,
    reference: &ScopeRef,
) -> Result<()> {
    let usage = usage_of(code, tenant_id, reference);
    let decision = engine.consume(tenant_id, &usage, None).await?;
    if decision.allowed {
        return Ok(());
    }
    let limit = decision
        .limits
        .first()
        .and_then(|l| l.limit)
        .unwrap_or(code.default_limit);
    Err(Error::LimitReached {
        message: format!(
            "The request would exceed the quota: {} (applied limit {limit})",
            code.code
        ),
    })
}

/// The unit a resource of `code` for `reference` takes, for an aggregate write that takes or
/// gives it back in the resource's own transaction: on the reference's own limit if it has one
/// when the write runs, else on its partition of the code's default.
pub fn unit(
    engine: &Engine<impl EngineStore>,
    tenant_id: Uuid,
    code: &QuotaCode,
    reference: &ScopeRef,
) -> Unit {
    Unit {
        tenant_id,
        own_id: limit_id(&code.code, reference),
        default_id: limit_id(&code.code, &ScopeRef::organization()),
        per_value: partition(code, reference),
        at_ms: engine.now().timestamp_millis(),
    }
}

/// The refusal of a create that found no room in the applied limit of `code`.
pub fn no_room(code: &QuotaCode) -> Error {
    Error::LimitReached {
        message: format!(
            "The request would exceed the quota: {} (its applied limit is reached)",
            code.code
        ),
    }
}

/// Gives back the unit a resource took (never below 0): its create failed, or it was deleted.
pub async fn give_back(
    engine: &Engine<impl EngineStore>,
    tenant_id: Uuid,
    code: &QuotaCode,
    reference: &ScopeRef,
) -> Result<()> {
    let usage = usage_of(code, tenant_id, reference);
    // A limit without a window has one period, so the period of "now" is the one counted in.
    engine.refund(tenant_id, &usage, engine.now()).await
}

/// Gives back the unit of a resource that is already deleted: a failure is logged, not
/// returned, since the deletion itself succeeded.
pub async fn release(
    engine: &Engine<impl EngineStore>,
    tenant_id: Uuid,
    code: &QuotaCode,
    reference: &ScopeRef,
) {
    if let Err(e) = give_back(engine, tenant_id, code, reference).await {
        tracing::warn!(code = %code.code, error = %e, "a deleted resource's quota unit was not given back");
    }
}

fn usage_of(code: &QuotaCode, tenant_id: Uuid, reference: &ScopeRef) -> Usage {
    Usage {
        subject: subject(code.scope, tenant_id, reference),
        metric: code.code.clone(),
        amount: 1,
    }
}

/// How many of quotaplane's own resources `code` counts now, read from the store (`None` for
/// codes whose usage is reported by other services).
pub async fn live_count(
    store: &impl Store,
    tenant_id: Uuid,
    code: &str,
    reference: &ScopeRef,
) -> Result<Option<i64>> {
    Ok(match code {
        KAFKA_CLIENT_QUOTAS => {
            let (Some(environment), Some(cluster)) =
                (reference.get("environment"), reference.get("kafka_cluster"))
            else {
                return Ok(None);
            };
            Some(
                store
                    .count_client_quotas(tenant_id, environment, cluster)
                    .await?,
            )
        }
        API_KEYS => Some(store.keys(tenant_id).await?.len() as i64),
        DATAROBOT_QUOTAS => {
            let page = Page {
                offset: 0,
                limit: 1,
            };
            Some(
                store
                    .datarobot_quotas(tenant_id, &QuotaFilter::default(), page)
                    .await?
                    .1,
            )
        }
        _ => None,
    })
}
