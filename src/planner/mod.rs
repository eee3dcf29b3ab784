//! The pure planner: from a snapshot of the cluster it decides what should be, with
//! no I/O and no client: the grants of a workflow, project or trigger and their
//! statuses, which syncs a change wakes, whether a run or clone may proceed and when
//! a trigger fires. The controller gathers the facts and applies the answers; the
//! `plan` and `diff` commands ask the same planner offline.

mod bounded;
pub mod clones;
mod directory;
mod existing;
mod notified;
mod organization;
mod rbac_parts;
mod readers;
mod reports;
mod rules;
pub mod runs;
pub mod schedule;
mod settle;
mod snapshot;
mod sync_status;
pub mod trigger;
mod visibility;
pub mod wakeups;
pub mod webhook;
mod workflow_plan;

pub use bounded::{LISTED, bounded, lists_every_grant};
pub use directory::{Directory, Lookup, Member};
pub use existing::{EXISTENCE_IDENTITY, EXISTS_VERB, existing_names_grant, plan_existing};
pub use organization::{
    AUDITOR_ROLE, COORDINATOR_ROLE, DesiredOrganizationBinding, plan_organization_roles,
};
pub use rbac_parts::{part_name, parts as rbac_parts};
pub use readers::{organization_readers_of_plans, plan_organization_readers};
pub use reports::share_changes;
pub use rules::{Creator, DesiredRbac, READ_VERBS, SHARE_VERB, SharePlan, stamped_creator};
pub use settle::{Applied, Notification, settle};
pub use snapshot::{Snapshot, WorkflowKey};
pub use sync_status::{Outcome, RbacOwned, blocked_rbac, progressing};
pub use visibility::{
    ShareInput, SharedKind, Target, VisibilityPlan, creator_grant_of, plan_visibility,
};
pub use workflow_plan::{
    DesiredSharedWorkflow, ExistingEntry, WorkflowInputs, WorkflowPlan, plan_workflow,
    workflow_creator_grant,
};

#[cfg(test)]
mod tests;
