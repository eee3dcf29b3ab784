//! The last, still pure, step of planning: what the statuses say once the desired
//! objects have been applied. Applying can find an object of a generated name that
//! is not ours (Conflict), and only then are the UIDs of new library entries known,
//! which name the notifications. The controller applies, then settles, then sends
//! the notifications this returns and writes the statuses.

use std::collections::{BTreeMap, BTreeSet};

use crate::naming;
use crate::resources::condition::ConditionType;
use crate::resources::{Condition, GrantState};

use super::{WorkflowPlan, notified};

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

/// After applying: folds what applying found into the share statuses, and returns
/// the notifications to send. The workflow's status then records them as sent
/// (`notifiedThrough`), so it must be written only after they were.
pub fn settle(plan: &mut WorkflowPlan, applied: &Applied) -> Vec<Notification> {
    let entry = naming::shared_workflow_name(&plan.namespace, &plan.workflow);
    for share_plan in &mut plan.shares {
        for grant in &mut share_plan.status.grants {
            if applied.conflicts.contains(&grant.workspace) {
                grant.state = GrantState::Pending;
                grant.reason = "Conflict".to_string();
                grant.message = format!(
                    "SharedWorkflow {entry} in {} exists and is not managed by workflow-share",
                    grant.workspace
                );
                grant.granted_at = None;
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

    let through = plan
        .workflow_status
        .as_ref()
        .and_then(|s| s.notified_through.clone());
    let mut notifications = Vec::new();
    let (mut sent, mut waiting) = (Vec::new(), Vec::new());
    // Entries of ours only: where another object holds the name, nothing was granted.
    for desired in plan
        .shared_workflows
        .iter()
        .filter(|d| !applied.conflicts.contains(&d.workspace))
    {
        let Some(stamp) = desired.granted_at.as_deref() else {
            continue;
        };
        if !notified::needs_notice(Some(stamp), through.as_deref()) {
            continue;
        }
        match applied.uids.get(&desired.workspace) {
            // Active and after the mark: what `plan.notify` lists.
            Some(uid) if desired.is_active() => {
                notifications.push(Notification {
                    workspace: desired.workspace.clone(),
                    shared_workflow_uid: uid.clone(),
                    shared_by: Some(desired.spec.shared_by.clone()).filter(|s| !s.is_empty()),
                });
                sent.push(stamp);
            }
            _ => waiting.push(stamp),
        }
    }
    let after = notified::through_after(through.as_deref(), &sent, &waiting);
    if let Some(status) = plan.workflow_status.as_mut() {
        status.notified_through = after;
    }
    notifications
}
