//! The last, still pure, step of planning: what the statuses say once the desired
//! objects have been applied. Applying can find an object of a generated name that
//! is not ours (Conflict), and only then are the UIDs of new library entries known,
//! which name the notifications. The controller applies, then settles, then sends
//! the notifications this returns and writes the statuses.

use std::collections::{BTreeMap, BTreeSet};

use crate::naming;
use crate::resources::condition::ConditionType;
use crate::resources::{Condition, GrantState, WorkflowShare};

use super::WorkflowPlan;

/// What applying the plan found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// Recipient workspace -> UID of its SharedWorkflow (created or existing).
    pub uids: BTreeMap<String, String>,
    /// Recipient workspaces where an object we do not own holds the entry's name.
    pub conflicts: BTreeSet<String>,
    /// Name of a grant Role/RoleBinding held by an object we do not own.
    pub blocked_rbac: Option<String>,
}

/// A notification to send for a new grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub workspace: String,
    pub shared_workflow_uid: String,
    pub shared_by: Option<String>,
}

/// Before applying: a recipient's `enabled` survives a suspension. Suspended grants
/// remember whether the entry was enabled (`enabled_now` reads the live entry);
/// grants coming back from suspension with that memory are returned, to be enabled
/// again once their new entry exists.
pub fn remember_enabled(
    plan: &mut WorkflowPlan,
    shares: &[&WorkflowShare],
    enabled_now: impl Fn(&str) -> Option<bool>,
) -> Vec<String> {
    let mut re_enable = Vec::new();
    for share_plan in &mut plan.shares {
        let previous = shares
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(&share_plan.name))
            .and_then(|s| s.status.clone())
            .unwrap_or_default();
        for grant in &mut share_plan.status.grants {
            let before = previous
                .grants
                .iter()
                .find(|g| g.workspace == grant.workspace);
            match grant.state {
                GrantState::Suspended if enabled_now(&grant.workspace) == Some(true) => {
                    grant.recipient_enabled = Some(true);
                }
                GrantState::Active if before.and_then(|b| b.recipient_enabled) == Some(true) => {
                    re_enable.push(grant.workspace.clone());
                }
                _ => {}
            }
        }
    }
    re_enable
}

/// After applying: folds what applying found into the share statuses and returns
/// the notifications to send (their grants are recorded as notified at `now`, so
/// the statuses must be written only after the notifications were sent).
pub fn settle(plan: &mut WorkflowPlan, applied: &Applied, now: &str) -> Vec<Notification> {
    let entry = naming::shared_workflow_name(&plan.namespace, &plan.workflow);
    let mut notifications = Vec::new();
    for share_plan in &mut plan.shares {
        let shared_by = share_plan.status.shared_by.clone();
        for grant in &mut share_plan.status.grants {
            if applied.conflicts.contains(&grant.workspace) {
                grant.state = GrantState::Pending;
                grant.reason = "Conflict".to_string();
                grant.message = format!(
                    "SharedWorkflow {entry} in {} exists and is not managed by workflow-share",
                    grant.workspace
                );
                grant.notified_at = None;
                continue;
            }
            if !share_plan.notify.contains(&grant.workspace) {
                continue;
            }
            if let Some(uid) = applied.uids.get(&grant.workspace) {
                notifications.push(Notification {
                    workspace: grant.workspace.clone(),
                    shared_workflow_uid: uid.clone(),
                    shared_by: shared_by.clone(),
                });
                grant.notified_at = Some(now.to_string());
            }
        }
        if let Some(blocked) = &applied.blocked_rbac {
            let message = format!(
                "Role or RoleBinding {blocked} in {} exists and is not managed by workflow-share",
                plan.namespace
            );
            if let Some(ready) = share_plan
                .status
                .conditions
                .iter_mut()
                .find(|c| c.is(ConditionType::Ready))
            {
                *ready = Condition::new(ConditionType::Ready, false, "Conflict", message);
            }
        }
        share_plan.status.active_grants = share_plan
            .status
            .grants
            .iter()
            .filter(|g| g.state == GrantState::Active)
            .count()
            .try_into()
            .unwrap_or(i32::MAX);
    }
    notifications
}
