//! Reports on each share, as Events, what a sync granted, revoked and rejected (the
//! planner's `share_changes` says what changed).

use crate::controller::Context;
use crate::planner::share_changes;
use crate::runtime::events::{NOTE_MAX_BYTES, Notice, build, create_once};
use crate::text;

/// Reports on the share itself what this sync granted, revoked and rejected: one
/// Event per kind of change, naming the workspaces (as many as fit), never one per
/// recipient.
pub async fn on_share(
    ctx: &Context,
    share: &crate::resources::WorkflowShare,
    plan: &crate::planner::WorkflowPlan,
    after: &crate::resources::WorkflowShareStatus,
) -> Result<(), kube::Error> {
    use kube::{Resource, ResourceExt};
    let Some(namespace) = share.namespace() else {
        return Ok(());
    };
    let active_now = |ws: &str| plan.access_of(ws).is_some();
    let changes = share_changes(
        share.status.as_ref(),
        after,
        &plan.active_before,
        &active_now,
    );
    for (type_, reason, workspaces) in changes {
        if workspaces.is_empty() {
            continue;
        }
        let verb = match reason {
            "Granted" => "granted to",
            "Revoked" => "revoked from",
            _ => "rejected for",
        };
        let list = text::join_within(&workspaces, NOTE_MAX_BYTES - 100);
        let note = format!(
            "Workflow {} {verb} {} workspace(s): {list}",
            share.spec.workflow_ref.name,
            workspaces.len()
        );
        let version = share.meta().resource_version.clone().unwrap_or_default();
        let event = build(
            ctx,
            Notice {
                name: crate::naming::change_event_name(&share.name_any(), reason, &version),
                namespace: namespace.clone(),
                type_,
                action: "Share",
                reason,
                note,
                regarding: share.object_ref(&()),
                related: None,
            },
        );
        create_once(ctx, &event).await?;
    }
    Ok(())
}
