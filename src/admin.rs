//! The `admin` subcommand: an operator with a shell manages tenants and keys directly on the
//! store, acting as the installation's system principal.

use std::sync::Arc;

use uuid::Uuid;

use crate::config::AdminAction;
use crate::domain::Result;
use crate::domain::access::{self, NewKey};
use crate::domain::audit::Actor;
use crate::domain::clock::SystemClock;
use crate::domain::page::PageRequest;
use crate::domain::principal::{Caller, Role, Roles};
use crate::domain::service_quota::ServiceQuotas;
use crate::domain::usage::Engine;
use crate::store::AnyStore;

/// Runs one action and prints its result on stdout.
pub async fn run(store: &AnyStore, action: AdminAction) -> Result<()> {
    let operator = Caller {
        tenant_id: Uuid::nil(),
        key_id: "admin-cli".into(),
        user_id: None,
        roles: Roles::default().with(Role::System),
    };
    let now = chrono::Utc::now();
    // Keys count against the tenant's API key quota, here as through the API.
    let engine = Engine::start(store.clone(), Arc::new(SystemClock));
    match action {
        AdminAction::CreateTenant { name } => {
            let t = access::create_tenant(store, &operator, &name, now).await?;
            let service = ServiceQuotas {
                store,
                engine: &engine,
            };
            service.ensure_defaults(&Actor::of(&operator), t.id).await?;
            println!("{}\t{}", t.id, t.name.as_str());
        }
        AdminAction::ListTenants => {
            // Every page, one at a time.
            let mut page = PageRequest::default();
            loop {
                let found = access::list_tenants(store, &operator, &page).await?;
                for t in found.items {
                    println!(
                        "{}\t{}\t{}",
                        t.id,
                        t.name.as_str(),
                        t.created_at.to_rfc3339()
                    );
                }
                match found.next {
                    Some(next) => page.after = Some(next),
                    None => break,
                }
            }
        }
        AdminAction::CreateKey {
            tenant,
            roles,
            user_id,
            description,
        } => {
            let request = NewKey {
                roles,
                user_id,
                description: Some(description),
            };
            let (key, secret) =
                access::create_key(store, &engine, &operator, tenant, request, now).await?;
            println!("id\t{}\nsecret\t{}", key.id, secret.expose());
        }
        AdminAction::ListKeys { tenant } => {
            let mut page = PageRequest::default();
            loop {
                let found = access::list_keys(store, &operator, tenant, &page).await?;
                for k in found.items {
                    let user = k.user_id.map(|u| u.to_string()).unwrap_or_default();
                    println!(
                        "{}\t{}\t{}\t{}",
                        k.id,
                        k.roles.to_stored(),
                        user,
                        k.description
                    );
                }
                match found.next {
                    Some(next) => page.after = Some(next),
                    None => break,
                }
            }
        }
        AdminAction::RevokeKey { tenant, key_id } => {
            access::revoke_key(store, &engine, &operator, tenant, &key_id, now).await?;
            println!("revoked {key_id}");
        }
    }
    Ok(())
}
