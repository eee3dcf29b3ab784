// Several printcolumn(...) entries repeat the same keys by design.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;

/// A workflow owned by one workspace: its builder content and summary fields.
/// Sharing it to other workspaces is declared with WorkflowShare objects.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "sharing.workflows.dev",
    version = "v1alpha1",
    kind = "Workflow",
    namespaced,
    status = "WorkflowStatus",
    shortname = "wf",
    category = "workflow-sharing",
    doc = "A workflow owned by one workspace. Share it with WorkflowShare objects.",
    printcolumn(
        name = "Tier",
        type_ = "string",
        json_path = ".status.tier",
        description = "Private, Shared (named people or workspaces) or Organization"
    ),
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Shareable", type_ = "boolean", json_path = ".status.shareable"),
    printcolumn(name = "Archived", type_ = "boolean", json_path = ".spec.archived"),
    printcolumn(
        name = "Shared-With",
        type_ = "integer",
        json_path = ".status.activeGrants",
        description = "Workspaces and people that currently have access"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSpec {
    /// Name shown to people, in the owner's and recipients' libraries.
    #[schemars(length(min = 1, max = 256))]
    pub display_name: String,
    /// Free-text category, for example "Sales Activity".
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 128))]
    pub type_: String,
    /// What the workflow does, shown in recipients' libraries.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 4096))]
    pub description: String,
    /// The builder content: an ordered list of steps. Opaque to sharing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub definition: Vec<WorkflowStep>,
    /// Name of a Secret or ConfigMap in this namespace holding training data.
    /// Never exposed to recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub training_data_ref: Option<String>,
    /// De-identification of the training data. When absent, the Organization's
    /// `deidentificationDefault` applies. Only de-identified workflows are shareable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deidentification: Option<Deidentification>,
    /// Archived workflows are removed from every recipient; setting it back to
    /// false reinstates the previous sharing.
    #[serde(default)]
    pub archived: bool,
    /// Project this workflow belongs to (a Project in this namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub project_ref: Option<String>,
}

/// One step of a workflow definition.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowStep {
    /// Step name, unique within the definition.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// What the step does (free text for the builder).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 4096))]
    pub action: String,
}

/// De-identification setting of a workflow.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Deidentification {
    /// Whether personal data is removed from the training data.
    pub enabled: bool,
}

/// Observed sharing state of a workflow.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Who can see the workflow besides its creator and the audit view: Private
    /// (nobody), Shared (named people or workspaces) or Organization (everyone in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// Who created the workflow: the only one who may change or delete it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// Effective de-identification: whether the workflow may be shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shareable: Option<bool>,
    /// Number of workspaces and people that currently have access.
    #[serde(default)]
    pub active_grants: i32,
    /// Workspaces, then people (`User:name`, `Group:name`), that currently have
    /// access: the first 50 (`activeGrants` counts them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_with: Vec<String>,
    /// Every library entry granted at or before this time (its
    /// `sharing.workflows.dev/granted-at`) has been notified: what keeps each new
    /// grant's notification to exactly one across restarts and crashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_through: Option<String>,
    /// WorkflowShares that reference this workflow. While any exist, deleting
    /// the workflow is refused (revoke sharing first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shares: Vec<String>,
}

/// Visibility of a workflow, from narrowest to widest.
#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
)]
pub enum Tier {
    /// Its creator and the audit view only.
    #[default]
    Private,
    /// Also named people or whole workspaces, read-only or run-only.
    Shared,
    /// Also every member of every workspace of the organization, its own included.
    Organization,
}

impl Workflow {
    /// Effective de-identification: the workflow's own setting, else the organization default.
    pub fn deidentified(&self, organization_default: bool) -> bool {
        self.spec
            .deidentification
            .as_ref()
            .map_or(organization_default, |d| d.enabled)
    }
}
