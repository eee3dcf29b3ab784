// Several printcolumn(...) entries repeat the same keys by design.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;

/// The sharing boundary. Namespaces labelled
/// `sharing.workflows.dev/organization: <name>` are its workspaces.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "sharing.workflows.dev",
    version = "v1alpha1",
    kind = "Organization",
    status = "OrganizationStatus",
    shortname = "org",
    category = "workflow-sharing",
    doc = "An organization: the boundary within which workspaces share workflows.",
    printcolumn(
        name = "Display-Name",
        type_ = "string",
        json_path = ".spec.displayName"
    ),
    printcolumn(
        name = "Deidentification-Default",
        type_ = "boolean",
        json_path = ".spec.deidentificationDefault"
    ),
    printcolumn(
        name = "Sharing-Policy",
        type_ = "string",
        json_path = ".spec.sharingPolicy"
    ),
    printcolumn(
        name = "Workspaces",
        type_ = "integer",
        json_path = ".status.workspaceCount"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationSpec {
    /// Name shown to people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 256))]
    pub display_name: String,
    /// De-identification applied to workflows that do not set their own.
    #[serde(default)]
    pub deidentification_default: bool,
    /// Subjects with a read-only audit view over every workspace of the organization:
    /// they see every workflow and share, private ones included, and change nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["kind".into(), "name".into()]))]
    pub auditors: Vec<Subject>,
    /// Subjects who see every workflow of the organization (the audit view) and may
    /// share any of them with workspaces of the organization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["kind".into(), "name".into()]))]
    pub coordinators: Vec<Subject>,
    /// Who may share a workflow: `CreatorsAndManagers` (default): its creator, the
    /// owners and managers of its workspace and the coordinators; `ManagersOnly`: only
    /// owners, managers and coordinators, so plain members cannot share at all.
    #[serde(default)]
    pub sharing_policy: SharingPolicy,
}

/// Who may share workflows in an organization.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum SharingPolicy {
    /// Creators share what they created; owners, managers and coordinators share anything.
    #[default]
    CreatorsAndManagers,
    /// Only owners, managers and coordinators share.
    ManagersOnly,
}

/// An RBAC subject (User or Group). A `system:` group spans the cluster, beyond any
/// organization, and is refused.
#[derive(
    KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord,
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.kind != 'Group' || !self.name.startsWith('system:')").message("a system: group spans the cluster, beyond any organization: name people or groups of the organization").field_path(".name").reason(kube::core::Reason::FieldValueForbidden))]
pub struct Subject {
    /// User or Group.
    #[schemars(extend("enum" = ["User", "Group"]))]
    pub kind: String,
    /// User or group name as the authenticator reports it.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
}

/// Observed state of an organization.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Number of workspaces.
    #[serde(default)]
    pub workspace_count: i32,
    /// Workspaces (namespaces labelled with this organization), sorted: the first 50
    /// (`kubectl get namespaces -l sharing.workflows.dev/organization=<name>` lists all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<String>,
}
