// Several printcolumn(...) entries repeat the same keys by design.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;
use super::trigger::RunnableRef;

/// A request to run a workflow in this workspace. The controller accepts it while the
/// workflow is available here and records whose usage it is; an executor runs it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "sharing.workflows.dev",
    version = "v1alpha1",
    kind = "WorkflowRun",
    namespaced,
    status = "WorkflowRunStatus",
    shortname = "wfr",
    category = "workflow-sharing",
    doc = "Runs a Workflow of this workspace or a SharedWorkflow shared with it, as the person who asked (or the trigger's creator).",
    printcolumn(
        name = "Workflow",
        type_ = "string",
        json_path = ".spec.workflowRef.name"
    ),
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.workflowRef.kind"),
    printcolumn(name = "Run-As", type_ = "string", json_path = ".spec.runAs"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.reason"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("a WorkflowRun cannot be changed; create another one"))]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRunSpec {
    /// What to run: a Workflow or a SharedWorkflow of this namespace.
    pub workflow_ref: RunnableRef,
    /// Who the run runs as. Set by the API server from the requester (or, for a
    /// trigger's run, by the controller to the trigger's creator); never typed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run_as: String,
    /// The Trigger that made this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub trigger_ref: Option<String>,
    /// For a trigger's run: the scheduled time it stands for (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub scheduled_time: Option<String>,
}

/// Where a run is in its life. The controller sets Accepted or Rejected; an executor
/// takes Accepted runs to Running and then Succeeded or Failed.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum RunPhase {
    /// Not looked at yet.
    #[default]
    Pending,
    /// The workflow is available here: an executor may run it.
    Accepted,
    /// It may not run (see the reason); final.
    Rejected,
    /// An executor is running it.
    Running,
    /// Finished well.
    Succeeded,
    /// Finished badly.
    Failed,
}

/// Whose usage a run is.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Accounting {
    /// The workspace that runs it (the recipient's, never the owner's).
    pub workspace: String,
    /// Its organization.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub organization: String,
}

/// Observed state of a run.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRunStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (accepted), Stalled (rejected).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Pending, Accepted, Rejected (controller); Running, Succeeded, Failed (executor).
    #[serde(default)]
    pub phase: RunPhase,
    /// CamelCase reason of the phase.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Detail for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Whose usage it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounted_to: Option<Accounting>,
}
