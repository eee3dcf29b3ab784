//! One sync of one workflow: plan from the stores, converge the generated
//! objects, notify new grants, then record status. Both controllers end here.

use std::sync::Arc;

use kube::runtime::reflector::ObjectRef;

use crate::error::Result;
use crate::naming;
use crate::planner::{WorkflowKey, plan_workflow};
use crate::resources::condition::now_rfc3339;
use crate::resources::{Condition, GrantState, Workflow, WorkflowShare, WorkflowShareStatus};

use super::{Context, apply, authorize, notify, status};

/// Counts a sync in flight for as long as it lives, even if it unwinds.
struct InFlight<'a>(&'a Context);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.metrics.in_flight.dec();
        self.0.metrics.syncs.inc();
    }
}

/// What a sync asks of the next one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// A share was refused because its author may not share: RBAC changes are not
    /// all watched (and the API server's authorizer lags a watch event a little), so
    /// ask again soon rather than only at the periodic resync.
    pub recheck_soon: bool,
}

pub async fn sync_workflow(ctx: &Context, key: &WorkflowKey) -> Result<Outcome> {
    ctx.metrics.in_flight.inc();
    let in_flight = InFlight(ctx);
    let result = sync_locked(ctx, key).await;
    drop(in_flight);
    if let Err(e) = &result {
        ctx.metrics
            .sync_errors
            .get_or_create(&crate::metrics::ReasonLabel {
                reason: e.metric_label(),
            })
            .inc();
    }
    result
}

async fn sync_locked(ctx: &Context, key: &WorkflowKey) -> Result<Outcome> {
    let lock = ctx.lock_for(key);
    let _guard = lock.lock().await;
    super::fault::in_sync(key);

    let now = now_rfc3339();
    let workflow: Option<Arc<Workflow>> = ctx
        .stores
        .workflows
        .get(&ObjectRef::new(&key.name).within(&key.namespace));
    let shares = ctx.stores.shares_of(key);
    let directory = ctx.stores.directory();

    // Grants exist only while a share holds our finalizer, so none can outlive it.
    for share in shares
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
    {
        status::share_finalizer(ctx, share, true).await?;
    }

    // kstatus: a changed spec first shows Reconciling with the new generation, so
    // `kubectl wait --for=condition=Ready` cannot pass on the previous answer.
    for share in shares
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
    {
        let Some(previous) = share.status.clone() else {
            continue;
        };
        if previous.observed_generation == share.metadata.generation {
            continue;
        }
        let progressing = WorkflowShareStatus {
            observed_generation: share.metadata.generation,
            conditions: vec![
                Condition::unknown("Ready", "Reconciling", "applying the new specification"),
                Condition::new(
                    "Reconciling",
                    true,
                    "SpecChanged",
                    "applying the new specification",
                ),
                Condition::new("Stalled", false, "Reconciling", ""),
            ],
            ..previous
        };
        status::share(ctx, share, progressing, &now).await?;
    }

    let share_refs: Vec<&WorkflowShare> = shares.iter().map(|s| s.as_ref()).collect();
    let live: Vec<&WorkflowShare> = share_refs
        .iter()
        .copied()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .collect();
    let unauthorized = if workflow.is_some() {
        authorize::unauthorized_shares(ctx, key, &live).await?
    } else {
        Default::default()
    };
    let mut plan = plan_workflow(
        &directory,
        &key.namespace,
        &key.name,
        workflow.as_deref(),
        &share_refs,
        &unauthorized,
        &now,
    );

    // A recipient's `enabled` survives a suspension: remember it before the entry is
    // removed, and set it again when the grant comes back.
    let sw_name = naming::shared_workflow_name(&key.namespace, &key.name);
    let enabled_now = |ws: &str| {
        ctx.stores
            .shared_workflows
            .get(&ObjectRef::new(&sw_name).within(ws))
            .and_then(|sw| sw.spec.enabled)
    };
    let mut re_enable: Vec<String> = Vec::new();
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

    let outcome = apply::shared_workflows(ctx, key, &plan.shared_workflows).await?;
    for ws in &re_enable {
        apply::restore_enabled(ctx, ws, &sw_name).await?;
    }
    let readers = naming::grant_rbac_name(&key.name);
    let rbac_owned = apply::rbac(ctx, key, &readers, plan.rbac.as_ref()).await?;
    let creator = naming::creator_rbac_name(&key.name);
    let creator_owned = apply::rbac(ctx, key, &creator, plan.creator_rbac.as_ref()).await?;

    for share_plan in &mut plan.shares {
        let share = shares
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(&share_plan.name));
        let shared_by = share_plan.status.shared_by.clone();
        for grant in &mut share_plan.status.grants {
            if outcome.conflicts.contains(&grant.workspace) {
                grant.state = GrantState::Pending;
                grant.reason = "Conflict".to_string();
                grant.message = format!(
                    "SharedWorkflow {} in {} exists and is not managed by workflow-share",
                    naming::shared_workflow_name(&key.namespace, &key.name),
                    grant.workspace
                );
                grant.notified_at = None;
                continue;
            }
            let notify_now = share_plan.notify.contains(&grant.workspace);
            if let (true, Some(uid)) = (notify_now, outcome.uids.get(&grant.workspace)) {
                let sw_name = naming::shared_workflow_name(&key.namespace, &key.name);
                notify::new_grant(
                    ctx,
                    &directory,
                    &notify::Grant {
                        key,
                        workspace: &grant.workspace,
                        shared_workflow: &sw_name,
                        shared_workflow_uid: uid,
                        shared_by: shared_by.as_deref(),
                    },
                )
                .await?;
                grant.notified_at = Some(now.clone());
            }
        }
        if !(rbac_owned && creator_owned) {
            let blocked = if rbac_owned { &creator } else { &readers };
            let msg = format!(
                "Role or RoleBinding {blocked} in {} exists and is not managed by workflow-share",
                key.namespace
            );
            if let Some(ready) = share_plan
                .status
                .conditions
                .iter_mut()
                .find(|c| c.type_ == "Ready")
            {
                *ready = Condition::new("Ready", false, "Conflict", msg);
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
        if let Some(share) = share.filter(|s| s.metadata.deletion_timestamp.is_none()) {
            status::share(ctx, share, share_plan.status.clone(), &now).await?;
        }
    }

    if let (Some(wf), Some(next)) = (workflow.as_deref(), plan.workflow_status.clone()) {
        status::workflow(ctx, wf, next, &now).await?;
    }

    // Grants of deleted shares are gone now: let them go.
    for share in shares
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_some())
    {
        status::share_finalizer(ctx, share, false).await?;
    }
    Ok(Outcome {
        recheck_soon: !unauthorized.is_empty(),
    })
}
