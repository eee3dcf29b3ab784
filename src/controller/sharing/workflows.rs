//! The two controllers that run workflow syncs (see `sync`), woken only through the
//! caches (their own changes included), so neither watches anything twice and a
//! relist wakes only what changed.
//!
//! - The workflow controller syncs each existing Workflow.
//! - The share controller covers shares whose workflow does not exist (status,
//!   cleanup, finalizer), which the workflow controller cannot see.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use super::sync::sync_workflow;
use crate::controller::Context;
use crate::error::Error;
use crate::planner::{Outcome, WorkflowKey};
use crate::resources::{Workflow, WorkflowShare};
use crate::runtime::controllers::Loops;

/// Requeued as the sync asks (see `Outcome::requeue_after`).
fn after(outcome: Outcome) -> Action {
    Action::requeue(outcome.requeue_after())
}

fn workflow_ref(key: &WorkflowKey) -> ObjectRef<Workflow> {
    ObjectRef::new(&key.name).within(&key.namespace)
}

/// Starts both controllers, woken by `workflow_syncs` and `share_syncs`.
pub fn start(
    loops: &mut Loops,
    ctx: &Arc<Context>,
    workflow_syncs: BoxStream<'static, WorkflowKey>,
    share_syncs: BoxStream<'static, WorkflowKey>,
) {
    let stores = &ctx.stores;
    // Unbounded by default: a sync waits for the watches to show what it and others
    // wrote, and bounded, those waits queue the syncs behind them (a workspace
    // joining 500 workflows took 10 times as long at 64). Bounded, a burst holds
    // fewer plans at once: a quarter less peak memory at 25,000 grants.
    let config = || controller::Config::default().concurrency(ctx.max_concurrent_syncs);
    let workflows = Controller::for_stream(
        futures::stream::pending::<Result<Workflow, watcher::Error>>(),
        stores.workflows.clone(),
    )
    .with_config(config())
    .reconcile_on(workflow_syncs.map(|key| workflow_ref(&key)));
    loops.spawn("workflow", workflows, ctx, reconcile_workflow);

    // Shares are queued for keys whose workflow is missing; the others are the workflow controller's.
    let (shares, known) = (stores.shares.clone(), stores.workflows.clone());
    let missing = share_syncs.flat_map(move |key| {
        let refs: Vec<ObjectRef<WorkflowShare>> = if known.get(&workflow_ref(&key)).is_some() {
            Vec::new()
        } else {
            shares
                .state()
                .iter()
                .filter(|s| key.is_shared_by(s))
                .map(|s| ObjectRef::from_obj(s.as_ref()))
                .collect()
        };
        futures::stream::iter(refs)
    });
    let share_controller = Controller::for_stream(
        futures::stream::pending::<Result<WorkflowShare, watcher::Error>>(),
        stores.shares.clone(),
    )
    .with_config(config())
    .reconcile_on(missing);
    loops.spawn("share", share_controller, ctx, reconcile_share);
}

async fn reconcile_workflow(wf: Arc<Workflow>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = WorkflowKey::of_workflow(&wf).ok_or(Error::MissingField("metadata.namespace"))?;
    Ok(after(sync_workflow(&ctx, &key).await?))
}

async fn reconcile_share(share: Arc<WorkflowShare>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = WorkflowKey::of_share(&share).ok_or(Error::MissingField("metadata.namespace"))?;
    if ctx.stores.workflows.get(&workflow_ref(&key)).is_some() {
        return Ok(Action::await_change()); // the workflow controller owns this one
    }
    Ok(after(sync_workflow(&ctx, &key).await?))
}
