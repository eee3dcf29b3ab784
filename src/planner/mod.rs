//! The pure planner: from a snapshot of the cluster it computes the grants a
//! workflow should have. No I/O. Used by the controller and by `workflow-share plan`.

mod directory;
mod existing;
mod organization;
mod plan;
mod readers;
pub mod schedule;
mod settle;
mod snapshot;
mod visibility;
pub mod wakeups;

pub use directory::{Directory, Lookup, Member};
pub use existing::{EXISTENCE_IDENTITY, EXISTS_VERB, existing_names_grant, plan_existing};
pub use organization::{
    AUDITOR_ROLE, COORDINATOR_ROLE, DesiredOrganizationBinding, plan_organization_roles,
};
pub use plan::{
    Creator, DesiredRbac, DesiredSharedWorkflow, READ_VERBS, SHARE_VERB, SharePlan, WorkflowPlan,
    plan_workflow, stamped_creator, workflow_creator_grant,
};
pub use readers::{organization_readers_of_plans, plan_organization_readers};
pub use settle::{Applied, Notification, remember_enabled, settle};
pub use snapshot::{Snapshot, WorkflowKey};
pub use visibility::{
    ShareInput, SharedKind, Target, VisibilityPlan, creator_grant_of, plan_visibility,
};

#[cfg(test)]
mod tests;
