// Several printcolumn(...) entries repeat the same keys by design.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;

/// A request, in a recipient workspace, to copy a shared workflow into an
/// editable Workflow of this workspace.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "sharing.workflows.dev",
    version = "v1alpha1",
    kind = "WorkflowClone",
    namespaced,
    status = "WorkflowCloneStatus",
    shortname = "wfc",
    category = "workflow-sharing",
    doc = "Copies a workflow shared with this workspace into an editable Workflow of this workspace.",
    printcolumn(
        name = "Source",
        type_ = "string",
        json_path = ".spec.sharedWorkflowRef.name"
    ),
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.targetName"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("a WorkflowClone cannot be changed; create another one"))]
#[serde(rename_all = "camelCase")]
pub struct WorkflowCloneSpec {
    /// The SharedWorkflow (in this namespace) to copy.
    pub shared_workflow_ref: SharedWorkflowRef,
    /// Name of the new Workflow in this namespace.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub target_name: String,
}

/// Reference to a SharedWorkflow in the clone's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SharedWorkflowRef {
    /// Name of the SharedWorkflow.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Outcome of a clone.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowCloneStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (True once the copy exists) and Stalled (a refusal).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The Workflow created, in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// Where the copy came from (`namespace/name` of the source workflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloned_from: Option<String>,
    /// Who asked for the copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloned_by: Option<String>,
}
