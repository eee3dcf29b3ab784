//! Test-only fault injection, compiled in only with the `fault-injection` cargo
//! feature (the integration tests enable it; release builds do not have it). Each
//! fault names one workflow as `namespace/name` in an environment variable:
//!
//! - `WORKFLOW_SHARE_FAULT_PANIC_IN_SYNC`: every sync of that workflow panics
//!   (the panic must stay contained to it);
//! - `WORKFLOW_SHARE_FAULT_PANIC_IN_WATCH`: the workflow watch panics on an event
//!   for it (a bug outside any reconcile: the process must exit non-zero).

use crate::planner::WorkflowKey;

#[cfg(feature = "fault-injection")]
fn armed(variable: &str, key: &WorkflowKey) -> bool {
    std::env::var(variable).is_ok_and(|target| target == format!("{}/{}", key.namespace, key.name))
}

/// Called at the start of every workflow sync, with its lock held.
#[cfg(feature = "fault-injection")]
pub fn in_sync(key: &WorkflowKey) {
    if armed("WORKFLOW_SHARE_FAULT_PANIC_IN_SYNC", key) {
        panic!(
            "injected fault in the sync of {}/{} («Zoë»)",
            key.namespace, key.name
        );
    }
}

/// Called for every Workflow watch event.
#[cfg(feature = "fault-injection")]
pub fn on_workflow_event(key: &WorkflowKey) {
    if armed("WORKFLOW_SHARE_FAULT_PANIC_IN_WATCH", key) {
        panic!(
            "injected fault in the workflow watch on {}/{}",
            key.namespace, key.name
        );
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn in_sync(_key: &WorkflowKey) {}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn on_workflow_event(_key: &WorkflowKey) {}
