// Several printcolumn(...) entries repeat the same keys by design.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Access;

/// A workflow shared with this workspace: the recipient's library entry.
/// Created and kept up to date by the controller; recipients only set `enabled`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "sharing.workflows.dev",
    version = "v1alpha1",
    kind = "SharedWorkflow",
    namespaced,
    shortname = "swf",
    category = "workflow-sharing",
    doc = "A workflow shared with this workspace by another workspace of the organization (created by the controller).",
    printcolumn(
        name = "Source",
        type_ = "string",
        json_path = ".spec.source.namespace",
        description = "Owner workspace"
    ),
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Shared-By", type_ = "string", json_path = ".spec.sharedBy"),
    printcolumn(name = "Enabled", type_ = "boolean", json_path = ".spec.enabled"),
    printcolumn(
        name = "Suspended",
        type_ = "string",
        json_path = ".spec.suspended",
        description = "Why access is withheld for now"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SharedWorkflowSpec {
    /// The workflow this entry stands for.
    pub source: SharedWorkflowSource,
    /// Name shown to people.
    pub display_name: String,
    /// Free-text category of the workflow.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// What the workflow does.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Who shared it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub shared_by: String,
    /// What this workspace may do with it.
    pub access: Access,
    /// Why access is withheld for now (WorkflowArchived, DeidentificationRequired);
    /// absent while the workflow is available. The entry stays while suspended, so
    /// the recipient's `enabled` survives and access returns without a new
    /// notification; nothing can be read, run, cloned or fired through it meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<String>,
    /// Set by the recipient workspace to list the workflow in its own
    /// "Shared Workflows" view. The controller never changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Where a shared workflow comes from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SharedWorkflowSource {
    /// Owner workspace.
    pub namespace: String,
    /// Workflow name in the owner workspace.
    pub name: String,
    /// Workflow UID, so a deleted and recreated workflow is a different source.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Workflow metadata.generation last propagated.
    #[serde(default)]
    pub generation: i64,
}
