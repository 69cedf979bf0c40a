//! The scopes of applied quotas (Confluent's names) and the references that name one instance of
//! each.

/// What an applied quota is counted per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Organization,
    Environment,
    Network,
    KafkaCluster,
    ServiceAccount,
    UserAccount,
    IdentityProvider,
    CertificateAuthority,
}

impl Scope {
    /// Every scope, in the order `/scopes` lists them.
    pub const ALL: [Scope; 8] = [
        Scope::Organization,
        Scope::Environment,
        Scope::Network,
        Scope::KafkaCluster,
        Scope::ServiceAccount,
        Scope::UserAccount,
        Scope::IdentityProvider,
        Scope::CertificateAuthority,
    ];

    /// The vendor's name, such as `KAFKA_CLUSTER`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Organization => "ORGANIZATION",
            Scope::Environment => "ENVIRONMENT",
            Scope::Network => "NETWORK",
            Scope::KafkaCluster => "KAFKA_CLUSTER",
            Scope::ServiceAccount => "SERVICE_ACCOUNT",
            Scope::UserAccount => "USER_ACCOUNT",
            Scope::IdentityProvider => "IDENTITY_PROVIDER",
            Scope::CertificateAuthority => "CERTIFICATE_AUTHORITY",
        }
    }

    /// The scope named `name`, in any letter case (the Confluent CLI sends lower case).
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// The references that name one instance of the scope (besides the organization).
    pub fn references(self) -> &'static [&'static str] {
        match self {
            Scope::Organization => &[],
            Scope::Environment => &["environment"],
            Scope::Network => &["environment", "network"],
            Scope::KafkaCluster => &["environment", "kafka_cluster"],
            Scope::ServiceAccount => &["service_account"],
            Scope::UserAccount => &["user"],
            Scope::IdentityProvider => &["identity_provider"],
            Scope::CertificateAuthority => &["certificate_authority"],
        }
    }

    /// What `/scopes` says of the scope.
    pub fn description(self) -> String {
        format!("{} scope that quotas would be applied to", self.name())
    }
}

/// Every reference key any scope uses.
pub const REFERENCE_KEYS: [&str; 7] = [
    "environment",
    "network",
    "kafka_cluster",
    "service_account",
    "user",
    "identity_provider",
    "certificate_authority",
];
