//! The custom resources of `sharing.workflows.dev/v1alpha1`, one file per kind.

pub mod condition;
pub mod object_share;
pub mod organization;
pub mod project;
pub mod shared_workflow;
pub mod trigger;
pub mod workflow;
pub mod workflow_clone;
pub mod workflow_run;
pub mod workflow_share;

pub use condition::Condition;
pub use object_share::{
    LocalObjectRef, ProjectShare, ProjectShareSpec, ShareScope, TriggerShare, TriggerShareSpec,
};
pub use organization::{
    Organization, OrganizationSpec, OrganizationStatus, SharingPolicy, Subject,
};
pub use project::{Project, ProjectSpec, VisibilityStatus};
pub use shared_workflow::{SharedWorkflow, SharedWorkflowSource, SharedWorkflowSpec};
pub use trigger::{
    AppEvent, Delivery, Fire, RunnableKind, RunnableRef, Schedule, SecretRef, Trigger, TriggerSpec,
    TriggerStatus, TriggerType, Webhook,
};
pub use workflow::{Tier, Workflow, WorkflowSpec, WorkflowStatus};
pub use workflow_clone::{
    SharedWorkflowRef, WorkflowClone, WorkflowCloneSpec, WorkflowCloneStatus,
};
pub use workflow_run::{Accounting, RunPhase, WorkflowRun, WorkflowRunSpec, WorkflowRunStatus};
pub use workflow_share::{
    Access, GrantCounts, GrantState, GrantVia, GrantedObject, People, PersonGrant, WorkflowRef,
    WorkflowShare, WorkflowShareSpec, WorkflowShareStatus, WorkspaceGrant,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every kind here.
pub const GROUP: &str = "sharing.workflows.dev";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";

/// Every CRD of the product, in the order `workflow-share crd` prints them.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        Organization::crd(),
        Workflow::crd(),
        WorkflowShare::crd(),
        SharedWorkflow::crd(),
        WorkflowClone::crd(),
        Project::crd(),
        ProjectShare::crd(),
        Trigger::crd(),
        TriggerShare::crd(),
        WorkflowRun::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream (what `crds/` holds).
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in all_crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}
