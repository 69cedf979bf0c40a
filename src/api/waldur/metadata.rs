//! `OPTIONS` on the Waldur routes, as Django REST framework's `SimpleMetadata` answers it for
//! Waldur's `TokenQuotaViewSet`: the view's name and description, what it renders and parses,
//! and, for `set_quota` and callers allowed to post, the fields of `SetTokenQuotaSerializer`.
//! Field order and texts are Waldur's (`chat/views.py`, `chat/serializers.py`).

use serde::Serialize;

/// The viewset's docstring, as DRF dedents and strips it (neither action has its own).
const DESCRIPTION: &str = "Access to user token quota and usage.\n\
                           Provides only custom actions with no standard CRUD operations.";

/// Waldur's renderers: JSON and the browsable API.
const RENDERS: [&str; 2] = ["application/json", "text/html"];

/// DRF's default parsers, which Waldur keeps.
pub const PARSES: [&str; 3] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

/// DRF's metadata of a view.
#[derive(Debug, Serialize)]
pub struct ViewMetadata {
    pub name: &'static str,
    pub description: &'static str,
    pub renders: [&'static str; 2],
    pub parses: [&'static str; 3],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<Actions>,
}

/// The write methods a caller may use, with the fields each reads.
#[derive(Debug, Serialize)]
pub struct Actions {
    #[serde(rename = "POST")]
    pub post: SetQuotaFields,
}

/// `SetTokenQuotaSerializer`'s fields, in its order.
#[derive(Debug, Serialize)]
pub struct SetQuotaFields {
    pub user_uuid: FieldInfo,
    pub daily_limit: FieldInfo,
    pub weekly_limit: FieldInfo,
    pub monthly_limit: FieldInfo,
}

/// One field as `SimpleMetadata.get_field_info` describes it.
#[derive(Debug, Serialize)]
pub struct FieldInfo {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub required: bool,
    pub read_only: bool,
    pub label: &'static str,
    pub help_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_value: Option<i64>,
}

fn limit(label: &'static str, help_text: &'static str) -> FieldInfo {
    FieldInfo {
        kind: "integer",
        required: false,
        read_only: false,
        label,
        help_text,
        min_value: Some(-1),
    }
}

/// The metadata of `usage/`.
pub fn usage() -> ViewMetadata {
    ViewMetadata {
        name: "Usage",
        description: DESCRIPTION,
        renders: RENDERS,
        parses: PARSES,
        actions: None,
    }
}

/// The metadata of `set_quota/`; `may_post`: whether the caller may set quotas (DRF leaves out
/// the actions a caller has no permission for).
pub fn set_quota(may_post: bool) -> ViewMetadata {
    ViewMetadata {
        name: "Set quota",
        description: DESCRIPTION,
        renders: RENDERS,
        parses: PARSES,
        actions: may_post.then(|| Actions {
            post: SetQuotaFields {
                user_uuid: FieldInfo {
                    kind: "string",
                    required: true,
                    read_only: false,
                    label: "User uuid",
                    help_text: "UUID of the user to set quota for.",
                    min_value: None,
                },
                daily_limit: limit(
                    "Daily limit",
                    "Daily token limit. Omit or null = system default, -1 = unlimited.",
                ),
                weekly_limit: limit(
                    "Weekly limit",
                    "Weekly token limit. Omit or null = system default, -1 = unlimited.",
                ),
                monthly_limit: limit(
                    "Monthly limit",
                    "Monthly token limit. Omit or null = system default, -1 = unlimited.",
                ),
            },
        }),
    }
}
