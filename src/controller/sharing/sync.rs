//! One sync of one workflow: plan from the stores, converge the generated
//! objects, notify new grants, then record status. Both controllers end here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};

use kube::runtime::reflector::ObjectRef;

use crate::error::Result;
use crate::naming;
use crate::planner::{
    Applied, Directory, ExistingEntry, Notification, Outcome, RbacOwned, WorkflowInputs,
    WorkflowKey, WorkflowPlan, blocked_rbac, bounded, plan_workflow, progressing, settle,
    workflow_creator_grant,
};
use crate::resources::condition::now_rfc3339;
use crate::resources::{Workflow, WorkflowShare};

use super::{authorize, entry_writes, finalizer, generated, notify, rbac, reports};
use crate::controller::Context;
use crate::runtime::writes::Written;
use crate::runtime::{request_slots, status_writes};

/// Notifications of one workflow sent at the same time (the client bounds the total).
const NOTIFICATIONS_IN_FLIGHT: usize = 16;

/// Counts a sync in flight for as long as it lives, even if it unwinds.
struct InFlight<'a>(&'a Context);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.metrics.in_flight.dec();
        self.0.metrics.syncs.inc();
    }
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

/// Longest wait for the stores to show the statuses the previous sync wrote.
const OWN_WRITES_WAIT: Duration = Duration::from_secs(2);

/// Waits (briefly) until the stores show the statuses our previous sync of `key`
/// wrote. A sync woken by that sync's own writes would otherwise plan from the
/// statuses before them: the workflow's before its notifications were recorded
/// (and notify again), the shares' before their grants were (and report again).
async fn own_status_writes_seen(ctx: &Context, key: &WorkflowKey) {
    let lags = |meta: &kube::api::ObjectMeta| {
        meta.uid.as_deref().is_some_and(|uid| {
            ctx.written_statuses
                .store_lags(uid, meta.resource_version.as_deref())
        })
    };
    // Looked up once: only shares we wrote can lag, and a burst has hundreds of
    // syncs polling here (each look-up would copy the whole share store).
    let shares: Vec<ObjectRef<WorkflowShare>> = ctx
        .stores
        .shares_of(key)
        .iter()
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect();
    let lagging = || {
        shares
            .iter()
            .filter_map(|r| ctx.stores.shares.get(r))
            .any(|s| lags(&s.metadata))
            || ctx
                .stores
                .workflows
                .get(&ObjectRef::new(&key.name).within(&key.namespace))
                .is_some_and(|w| lags(&w.metadata))
    };
    let start = tokio::time::Instant::now();
    while lagging() && start.elapsed() < OWN_WRITES_WAIT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sync_locked(ctx: &Context, key: &WorkflowKey) -> Result<Outcome> {
    let lock = ctx.lock_for(key);
    let _guard = lock.lock().await;
    crate::runtime::fault::in_sync(key);
    own_status_writes_seen(ctx, key).await;
    // Boxed, as each step that waits on the API server: a burst's hundreds of syncs
    // are tasks as large as their largest step, and most of them wait in another.
    let mut gathered = Box::pin(gather(ctx, key)).await?;
    let active_before = Box::pin(write_grants(ctx, key, &gathered)).await?;
    let wrote = active_before.is_some();
    // The rest (notifications, reports, statuses) holds a whole plan: a turn bounds
    // how many do at once (see `Context::plans`). A sync that wrote no grant (a
    // revocation, a status) goes on without one when none is free.
    let _turn = match ctx.plans.try_acquire() {
        Ok(turn) => Some(turn),
        Err(_) if !wrote => None,
        Err(_) => {
            let turn = ctx.plans.acquire().await.ok();
            // A burst's wait can be long: the rest is planned from the facts as
            // they are then (an author's permission, a member who left).
            drop(gathered);
            gathered = Box::pin(gather(ctx, key)).await?;
            turn
        }
    };
    // Boxed, and built only now: a sync waiting for its turn stays a small future (a
    // burst has hundreds waiting); what it plans and writes is allocated once it runs.
    Box::pin(plan_and_apply(ctx, key, gathered, active_before)).await
}

/// Grants first: the entries to write and the access to give are taken from a plan
/// that is dropped before anything is written, so that a burst's syncs wait for
/// their writes holding only those (and the next step plans again). If it wrote
/// any entry, who held access through one before (what the shares' reports compare
/// with: the next plan sees these writes as already there); once it returns, the
/// cache shows what it wrote.
async fn write_grants(
    ctx: &Context,
    key: &WorkflowKey,
    gathered: &Gathered,
) -> Result<Option<BTreeSet<String>>> {
    let (writes, organization_readable, readers_grant, active_before) = {
        let plan = plan_gathered(ctx, key, gathered);
        let writes = entry_writes::to_write(ctx, key, &plan.shared_workflows);
        (
            writes,
            plan.organization_readable,
            plan.rbac,
            plan.active_before,
        )
    };
    if writes.is_empty() {
        return Ok(None);
    }
    entry_writes::write(ctx, key, &writes).await?;
    // The organization's members first: a workflow's own grant then drops them.
    ctx.readers
        .converge(ctx, &key.namespace, &key.name, organization_readable)
        .await?;
    let readers = naming::grant_rbac_name(&key.name);
    let owner = gathered.owner.clone();
    rbac::converge(ctx, key, &readers, readers_grant.as_ref(), owner).await?;
    entry_writes::shown(ctx, key, &writes).await;
    Ok(Some(active_before))
}

/// Plans the workflow from what `gather` found and the entries cached now.
fn plan_gathered(ctx: &Context, key: &WorkflowKey, gathered: &Gathered) -> WorkflowPlan {
    let share_refs: Vec<&WorkflowShare> = gathered.shares.iter().map(|s| s.as_ref()).collect();
    let sw_name = naming::shared_workflow_name(&key.namespace, &key.name);
    plan_workflow(
        &gathered.directory,
        &WorkflowInputs {
            namespace: &key.namespace,
            name: &key.name,
            workflow: gathered.workflow.as_deref(),
            shares: &share_refs,
            entries: &existing_entries(ctx, key, &sw_name),
            unauthorized: &gathered.unauthorized,
        },
        &gathered.now,
    )
}

/// What a sync found and settled before it plans: its facts, with the share's
/// finalizer and the creator's grant in place.
struct Gathered {
    now: String,
    workflow: Option<Arc<Workflow>>,
    shares: Vec<Arc<WorkflowShare>>,
    directory: Arc<Directory>,
    unauthorized: BTreeSet<String>,
    creator: String,
    owner: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
    creator_owned: bool,
}

async fn gather(ctx: &Context, key: &WorkflowKey) -> Result<Gathered> {
    let now = now_rfc3339();
    let workflow: Option<Arc<Workflow>> = ctx
        .stores
        .workflows
        .get(&ObjectRef::new(&key.name).within(&key.namespace));
    let mut shares = ctx.stores.shares_of(key);
    let directory = ctx.stores.directory();

    hold_and_mark_progressing(ctx, &mut shares, &now).await?;

    let share_refs: Vec<&WorkflowShare> = shares.iter().map(|s| s.as_ref()).collect();
    // The creator's grant first: whether its author may share is asked of the API
    // server below, and must not be answered from a grant that should be gone (a
    // creator who left the workspace, an earlier object of the same name).
    let creator = naming::creator_rbac_name(&key.name);
    let owner = workflow.as_deref().and_then(generated::deleted_with);
    let creator_grant = workflow
        .as_deref()
        .and_then(|wf| workflow_creator_grant(&directory, wf));
    let creator_owned =
        rbac::converge(ctx, key, &creator, creator_grant.as_ref(), owner.clone()).await?;
    // Only now may the who-may-share check see the workflow as existing (see `existing`).
    ctx.existing
        .converge(
            ctx,
            "workflows",
            &key.namespace,
            &key.name,
            workflow.is_some(),
        )
        .await?;
    let unauthorized = match workflow.as_deref() {
        Some(wf) => {
            let metas: Vec<&kube::api::ObjectMeta> = share_refs
                .iter()
                .filter(|s| s.metadata.deletion_timestamp.is_none())
                .map(|s| &s.metadata)
                .collect();
            let uid = wf.metadata.uid.as_deref().unwrap_or_default();
            let object = authorize::Shared::workflow(key, uid, &creator);
            authorize::unauthorized(ctx, &object, &metas).await?
        }
        None => Default::default(),
    };
    Ok(Gathered {
        now,
        workflow,
        shares,
        directory,
        unauthorized,
        creator,
        owner,
        creator_owned,
    })
}

/// The sync proper: plan, write the grants, notify, record status.
async fn plan_and_apply(
    ctx: &Context,
    key: &WorkflowKey,
    gathered: Gathered,
    active_before: Option<BTreeSet<String>>,
) -> Result<Outcome> {
    let mut plan = plan_gathered(ctx, key, &gathered);
    if let Some(active_before) = active_before {
        plan.active_before = active_before;
    }
    let sw_name = naming::shared_workflow_name(&key.namespace, &key.name);
    let entries = entry_writes::converge(ctx, key, &plan.shared_workflows).await?;
    let readers = naming::grant_rbac_name(&key.name);
    // The organization's members first: a workflow's own grant then drops them.
    let organization_owned = ctx
        .readers
        .converge(ctx, &key.namespace, &key.name, plan.organization_readable)
        .await?;
    let readers_owned =
        rbac::converge(ctx, key, &readers, plan.rbac.as_ref(), gathered.owner).await?;
    let applied = Applied {
        uids: entries.uids,
        conflicts: entries.conflicts,
        blocked_rbac: blocked_rbac(
            &key.name,
            RbacOwned {
                organization_readers: organization_owned,
                readers: readers_owned,
                creator: gathered.creator_owned,
            },
        ),
    };

    // Notifications first: the workflow's status written below records them as sent.
    let notifications = settle(&mut plan, &applied);
    send_notifications(ctx, key, &gathered.directory, &sw_name, &notifications).await?;
    write_statuses(
        ctx,
        &gathered.shares,
        &plan,
        gathered.workflow.as_deref(),
        &gathered.now,
    )
    .await?;
    Ok(Outcome {
        recheck_soon: !gathered.unauthorized.is_empty(),
        settling: ctx.decisions.unsettled(&key.namespace, &gathered.creator),
    })
}

/// The workflow's library entries now, by workspace: ours only (labelled for it and
/// naming it as their source), not being deleted.
fn existing_entries(
    ctx: &Context,
    key: &WorkflowKey,
    name: &str,
) -> BTreeMap<String, ExistingEntry> {
    ctx.stores
        .entries
        .namespaces_of(name)
        .into_iter()
        .filter_map(|ns| {
            let entry = ctx.stores.entries.get(&ns, name)?;
            let ours = entry.labelled_for(key)
                && entry.source.namespace == key.namespace
                && entry.source.name == key.name
                && !entry.deleting;
            ours.then(|| {
                let existing = ExistingEntry {
                    granted_at: entry.granted_at.clone(),
                    suspended: entry.suspended,
                };
                (ns, existing)
            })
        })
        .collect()
}

/// Grants exist only while a share holds our finalizer, so none can outlive it.
/// The statuses this sync writes are then written over the shares as patched, which
/// is what the next sync waits to see in the store (see `own_status_writes_seen`).
/// Then a changed spec first shows Reconciling (see `progressing`).
async fn hold_and_mark_progressing(
    ctx: &Context,
    shares: &mut [Arc<WorkflowShare>],
    now: &str,
) -> Result<()> {
    for share in shares
        .iter_mut()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
    {
        if let Some(patched) = finalizer::set(ctx, share, true).await? {
            *share = Arc::new(patched);
        }
    }
    for share in shares
        .iter_mut()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
    {
        let Some(progressing) = progressing(share) else {
            continue;
        };
        // Read back whole: the rest of this sync plans from the share as written.
        if let Some(written) =
            status_writes::write_own::<WorkflowShare, WorkflowShare>(ctx, share, progressing, now)
                .await?
        {
            *share = Arc::new(written);
        }
    }
    Ok(())
}

async fn send_notifications(
    ctx: &Context,
    key: &WorkflowKey,
    directory: &Directory,
    sw_name: &str,
    notifications: &[Notification],
) -> Result<()> {
    // Each send is a large future: build them as they are polled, not all at once.
    // (Indices, not references, as items: a future borrowing the item would make
    // the stream's closure higher-ranked, which the controller's Send bound refuses.)
    stream::iter(0..notifications.len())
        .map(|i| {
            let notification = &notifications[i];
            // Built once a request slot is held (see `request_slots::in_slot`).
            request_slots::in_slot(&ctx.slots, request_slots::Lane::Bookkeeping, move || {
                notify::new_grant(
                    ctx,
                    directory,
                    notify::Grant {
                        key,
                        workspace: &notification.workspace,
                        shared_workflow: sw_name,
                        shared_workflow_uid: &notification.shared_workflow_uid,
                        shared_by: notification.shared_by.as_deref(),
                    },
                )
            })
        })
        .buffer_unordered(NOTIFICATIONS_IN_FLIGHT)
        .try_collect::<()>()
        .await
}

/// The shares' and the workflow's statuses as settled, then the finalizers of
/// deleted shares, whose grants are gone now.
async fn write_statuses(
    ctx: &Context,
    shares: &[Arc<WorkflowShare>],
    plan: &WorkflowPlan,
    workflow: Option<&Workflow>,
    now: &str,
) -> Result<()> {
    for share_plan in &plan.shares {
        let share = shares
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(&share_plan.name))
            .filter(|s| s.metadata.deletion_timestamp.is_none());
        if let Some(share) = share {
            // Written bounded: counts, and the grants as many as a status lists.
            status_writes::write_own::<WorkflowShare, Written<WorkflowShare>>(
                ctx,
                share,
                bounded(share_plan.status.clone()),
                now,
            )
            .await?;
            // After the status, so a retry does not report the same change twice.
            if let Err(error) = reports::on_share(ctx, share, plan, &share_plan.status).await {
                tracing::warn!(%error, "could not record share changes as Events");
            }
        }
    }

    if let (Some(wf), Some(next)) = (workflow, plan.workflow_status.clone()) {
        status_writes::write_own::<_, Written<Workflow>>(ctx, wf, next, now).await?;
    }
    for share in shares
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_some())
    {
        finalizer::set(ctx, share, false).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_of_future<'a, F: std::future::Future>(
        _: impl FnOnce(&'a Context, &'a WorkflowKey) -> F,
    ) -> usize {
        std::mem::size_of::<F>()
    }

    /// A burst runs a sync per workflow at once, each a task as large as its future
    /// (the largest of its steps, unless a step is boxed): 500 syncs of 8 KB were a
    /// tenth of the controller's peak memory.
    #[test]
    fn a_sync_is_a_small_task_while_it_waits() {
        let sync = size_of_future(sync_workflow);
        assert!(sync <= 1024, "a sync's future is {sync} bytes");
    }
}
