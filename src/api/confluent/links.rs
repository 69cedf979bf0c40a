//! The URLs and CRNs a client quota answers with, shaped as Confluent Cloud shapes them: `self`
//! and `related` are absolute URLs under this server's base; `resource_name`s are CRNs under
//! `crn://confluent.cloud/organization=<tenant id>`. Ids are percent-encoded, so every link is a
//! valid URI whatever the id (`<default>` included).

use axum::http::HeaderMap;
use uuid::Uuid;

use crate::domain::confluent::DEFAULT_PRINCIPAL;
use crate::state::Settings;

/// The collection path of client quotas.
pub const CLIENT_QUOTAS: &str = "/kafka-quotas/v1/client-quotas";
/// The collection path of applied quotas.
pub const APPLIED_QUOTAS: &str = "/service-quota/v1/applied-quotas";
/// The collection path of scopes.
pub const SCOPES: &str = "/service-quota/v1/scopes";

/// Link maker for one request: the server's base URL and the caller's organization.
pub struct Links {
    pub base: String,
    pub organization: Uuid,
}

impl Links {
    /// The links of a request: its base URL (configured, else from `Host`) and organization.
    pub fn of_request(settings: &Settings, headers: &HeaderMap, organization: Uuid) -> Self {
        Self {
            base: crate::api::base_url(settings, headers),
            organization,
        }
    }

    /// `self` of a client quota, also its `Location`.
    pub fn client_quota(&self, id: &str) -> String {
        format!("{}{CLIENT_QUOTAS}/{}", self.base, encode(id))
    }

    /// The CRN of a client quota.
    pub fn client_quota_crn(&self, id: &str) -> String {
        format!("{}/client-quota={}", self.organization_crn(), encode(id))
    }

    /// The list of the client quotas on a cluster, with extra query pairs.
    pub fn list(&self, environment: &str, cluster: &str, extra: &[(&str, &str)]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("spec.cluster", cluster);
        query.append_pair("environment", environment);
        for (k, v) in extra {
            query.append_pair(k, v);
        }
        format!("{}{CLIENT_QUOTAS}?{}", self.base, query.finish())
    }

    /// `related` of a cluster.
    pub fn cluster(&self, cluster: &str) -> String {
        format!("{}/cmk/v2/clusters/{}", self.base, encode(cluster))
    }

    /// The CRN of a cluster.
    pub fn cluster_crn(&self, environment: &str, cluster: &str) -> String {
        format!(
            "{}/environment={}/cloud-cluster={}",
            self.organization_crn(),
            encode(environment),
            encode(cluster)
        )
    }

    /// `related` of an environment.
    pub fn environment(&self, environment: &str) -> String {
        format!("{}/org/v2/environments/{}", self.base, encode(environment))
    }

    /// The CRN of an environment.
    pub fn environment_crn(&self, environment: &str) -> String {
        format!(
            "{}/environment={}",
            self.organization_crn(),
            encode(environment)
        )
    }

    /// `related` of a principal: a user (`u-`), else a service account; `<default>` stands for
    /// every service account, so it links to their collection.
    pub fn principal(&self, principal: &str) -> String {
        if principal == DEFAULT_PRINCIPAL {
            return format!("{}/iam/v2/service-accounts", self.base);
        }
        let collection = if principal.starts_with("u-") {
            "users"
        } else {
            "service-accounts"
        };
        format!("{}/iam/v2/{collection}/{}", self.base, encode(principal))
    }

    /// The CRN of a principal.
    pub fn principal_crn(&self, principal: &str) -> String {
        let kind = if principal.starts_with("u-") {
            "user"
        } else {
            "service-account"
        };
        format!("{}/{kind}={}", self.organization_crn(), encode(principal))
    }

    /// `self` of an applied quota: its code, with the scope references as the query that reads
    /// it back.
    pub fn applied_quota(&self, code: &str, references: &[(&str, &str)]) -> String {
        let mut url = format!("{}{APPLIED_QUOTAS}/{}", self.base, encode(code));
        if !references.is_empty() {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (k, v) in references {
                query.append_pair(k, v);
            }
            url.push('?');
            url.push_str(&query.finish());
        }
        url
    }

    /// The CRN of an applied quota: under its scope reference.
    pub fn applied_quota_crn(&self, code: &str, references: &[(&str, &str)]) -> String {
        let mut crn = self.organization_crn();
        for (k, v) in references {
            crn.push_str(&format!("/{}={}", k.replace('_', "-"), encode(v)));
        }
        format!("{crn}/applied-quota={}", encode(code))
    }

    /// A list of applied quotas or scopes at `path`, with query pairs.
    pub fn collection(&self, path: &str, pairs: &[(&str, &str)]) -> String {
        let mut url = format!("{}{path}", self.base);
        if !pairs.is_empty() {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                query.append_pair(k, v);
            }
            url.push('?');
            url.push_str(&query.finish());
        }
        url
    }

    /// `self` of a scope.
    pub fn scope(&self, name: &str) -> String {
        format!("{}{SCOPES}/{}", self.base, encode(name))
    }

    /// The CRN of a scope.
    pub fn scope_crn(&self, name: &str) -> String {
        format!("{}/scope={}", self.organization_crn(), encode(name))
    }

    /// `related` of the organization.
    pub fn organization(&self) -> String {
        format!("{}/org/v2/organizations/{}", self.base, self.organization)
    }

    /// The CRN of the organization.
    pub fn organization_crn(&self) -> String {
        format!("crn://confluent.cloud/organization={}", self.organization)
    }

    /// `related` and CRN of a resource named by a scope reference `key` (not the cluster or
    /// environment, which have their own).
    pub fn referenced(&self, key: &str, id: &str, environment: Option<&str>) -> (String, String) {
        let (path, kind) = match key {
            "network" => ("networking/v1/networks", "network"),
            "identity_provider" => ("iam/v2/identity-providers", "identity-provider"),
            "certificate_authority" => ("iam/v2/certificate-authorities", "certificate-authority"),
            _ => return (self.principal(id), self.principal_crn(id)),
        };
        let parent = match environment {
            Some(env) => self.environment_crn(env),
            None => self.organization_crn(),
        };
        (
            format!("{}/{path}/{}", self.base, encode(id)),
            format!("{parent}/{kind}={}", encode(id)),
        )
    }
}

/// Percent-encodes all but the unreserved characters of RFC 3986.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_into_valid_links() {
        let links = Links {
            base: "http://h".into(),
            organization: Uuid::nil(),
        };
        assert_eq!(
            links.principal_crn("<default>"),
            "crn://confluent.cloud/organization=00000000-0000-0000-0000-000000000000/service-account=%3Cdefault%3E"
        );
        assert_eq!(
            links.list("env 1", "lkc-1", &[("page_token", "a+b")]),
            "http://h/kafka-quotas/v1/client-quotas?spec.cluster=lkc-1&environment=env+1&page_token=a%2Bb"
        );
        assert_eq!(links.principal("u-1"), "http://h/iam/v2/users/u-1");
    }
}
