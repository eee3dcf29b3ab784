//! The controller: reflector stores for everything the planner reads, and two
//! kube-runtime Controllers that funnel into one per-workflow sync.
//!
//! - The workflow controller reconciles each Workflow; watches on shares,
//!   SharedWorkflows, RBAC, namespaces and organizations map events to the
//!   workflows they affect.
//! - The share controller covers shares whose workflow does not exist (status,
//!   cleanup, finalizer), which the workflow controller cannot see.

mod apply;
mod context;
mod notify;
mod status;
mod sync;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{info, warn};

pub use context::{Context, Stores};
pub use sync::sync_workflow;

use crate::error::Error;
use crate::labels;
use crate::planner::WorkflowKey;
use crate::resources::{Organization, SharedWorkflow, Workflow, WorkflowShare};

/// Periodic safety-net resync; changes arrive through watches within seconds.
const RESYNC: Duration = Duration::from_secs(300);

/// A reflector store kept filled by its own task, so that no reconcile waiting for
/// the store can stall the stream that fills it.
fn reflect<K>(api: Api<K>, config: watcher::Config) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config))
        .default_backoff()
        .touched_objects();
    tokio::spawn(stream.for_each(|res| async move {
        if let Err(error) = res {
            warn!(%error, "watch failed; retrying with backoff");
        }
    }));
    store
}

fn workflow_ref(key: WorkflowKey) -> ObjectRef<Workflow> {
    ObjectRef::new(&key.name).within(&key.namespace)
}

/// Workflows whose grants may change when membership or labels of `namespace` change:
/// those shared to it explicitly or org-wide, and those owned in it.
fn keys_touching_namespace(
    shares: &Store<WorkflowShare>,
    namespace: &str,
) -> Vec<ObjectRef<Workflow>> {
    shares
        .state()
        .iter()
        .filter(|s| {
            s.spec.entire_organization
                || s.spec.workspaces.iter().any(|w| w == namespace)
                || s.namespace().as_deref() == Some(namespace)
        })
        .filter_map(|s| WorkflowKey::of_share(s))
        .map(workflow_ref)
        .collect()
}

fn all_shared_keys(shares: &Store<WorkflowShare>) -> Vec<ObjectRef<Workflow>> {
    shares
        .state()
        .iter()
        .filter_map(|s| WorkflowKey::of_share(s))
        .map(workflow_ref)
        .collect()
}

/// Source workflow of a generated object, from its labels and name.
fn source_of_generated<R: Resource>(
    obj: &R,
    workflows: &Store<Workflow>,
) -> Option<ObjectRef<Workflow>> {
    let labels = obj.meta().labels.as_ref()?;
    if labels.get(labels::MANAGED_BY_KEY).map(String::as_str) != Some(labels::MANAGED_BY_VALUE) {
        return None;
    }
    let ns = labels.get(labels::SOURCE_NAMESPACE)?;
    let wf = labels.get(labels::SOURCE_WORKFLOW)?;
    // The label holds the name itself unless the name was too long for a label.
    workflows
        .state()
        .iter()
        .find(|w| {
            w.namespace().as_deref() == Some(ns) && crate::naming::label_value(&w.name_any()) == *wf
        })
        .and_then(|w| WorkflowKey::of_workflow(w))
        .or_else(|| {
            Some(WorkflowKey {
                namespace: ns.clone(),
                name: wf.clone(),
            })
        })
        .map(workflow_ref)
}

fn error_policy<K>(_obj: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(reason = error.metric_label(), %error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile_workflow(wf: Arc<Workflow>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = WorkflowKey::of_workflow(&wf).ok_or(Error::MissingField("metadata.namespace"))?;
    sync_workflow(&ctx, &key).await?;
    Ok(Action::requeue(RESYNC))
}

async fn reconcile_share(share: Arc<WorkflowShare>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = WorkflowKey::of_share(&share).ok_or(Error::MissingField("metadata.namespace"))?;
    if ctx
        .stores
        .workflows
        .get(&workflow_ref(key.clone()))
        .is_some()
    {
        return Ok(Action::await_change()); // the workflow controller owns this one
    }
    sync_workflow(&ctx, &key).await?;
    Ok(Action::requeue(RESYNC))
}

/// Options of `workflow-share controller`.
#[derive(Clone, Debug)]
pub struct Options {
    pub instance: String,
}

/// Runs both controllers until a shutdown signal.
pub async fn run(client: Client, options: Options) -> anyhow::Result<()> {
    let all = watcher::Config::default;
    let managed = || {
        watcher::Config::default().labels(&format!(
            "{}={}",
            labels::MANAGED_BY_KEY,
            labels::MANAGED_BY_VALUE
        ))
    };

    let workspace_roles = || watcher::Config::default().labels(labels::WORKSPACE_ROLE);
    let organizations = reflect(Api::<Organization>::all(client.clone()), all());
    let namespaces = reflect(Api::<Namespace>::all(client.clone()), all());
    let cluster_roles = reflect(Api::<ClusterRole>::all(client.clone()), workspace_roles());
    let role_bindings = reflect(Api::<RoleBinding>::all(client.clone()), all());
    let roles = reflect(Api::<Role>::all(client.clone()), managed());
    let shared_workflows = reflect(Api::<SharedWorkflow>::all(client.clone()), all());

    // The planner reads its own caches, all filled before the first reconcile;
    // the controllers keep theirs for queueing.
    let workflows = reflect(Api::<Workflow>::all(client.clone()), all());
    let shares = reflect(Api::<WorkflowShare>::all(client.clone()), all());

    let stores = Stores {
        organizations,
        namespaces,
        cluster_roles,
        role_bindings,
        roles,
        workflows: workflows.clone(),
        shares: shares.clone(),
        shared_workflows,
    };
    // Planning from a partial view would revoke grants that are still declared:
    // wait for every initial list before the first reconcile.
    let ctx = Arc::new(Context::new(client.clone(), stores, options.instance));
    tokio::select! {
        ready = ctx.stores.wait_ready() => ready.map_err(|_| Error::StoresClosed)?,
        _ = tokio::signal::ctrl_c() => return Ok(()),
    }
    let workflow_ctl = Controller::new(Api::<Workflow>::all(client.clone()), all());
    let share_ctl = Controller::new(Api::<WorkflowShare>::all(client.clone()), all());

    let (s1, s2, s3, s4, s5) = (
        shares.clone(),
        shares.clone(),
        shares.clone(),
        shares.clone(),
        shares.clone(),
    );
    let (w1, w2, w3) = (workflows.clone(), workflows.clone(), workflows.clone());
    let workflow_ctl =
        workflow_ctl
            .watches(Api::<WorkflowShare>::all(client.clone()), all(), |s| {
                WorkflowKey::of_share(&s).map(workflow_ref)
            })
            .watches(
                Api::<SharedWorkflow>::all(client.clone()),
                all(),
                move |sw| source_of_generated(&sw, &w1),
            )
            .watches(Api::<Role>::all(client.clone()), managed(), move |r| {
                source_of_generated(&r, &w2)
            })
            .watches(Api::<RoleBinding>::all(client.clone()), all(), move |rb| {
                match source_of_generated(&rb, &w3) {
                    Some(key) => vec![key],
                    None => rb
                        .namespace()
                        .map(|ns| keys_touching_namespace(&s1, &ns))
                        .unwrap_or_default(),
                }
            })
            .watches(Api::<Namespace>::all(client.clone()), all(), move |ns| {
                keys_touching_namespace(&s2, &ns.name_any())
            })
            .watches(Api::<Organization>::all(client.clone()), all(), move |_| {
                all_shared_keys(&s3)
            })
            .watches(
                Api::<ClusterRole>::all(client.clone()),
                workspace_roles(),
                move |_| all_shared_keys(&s4),
            )
            .shutdown_on_signal()
            .run(reconcile_workflow, error_policy, ctx.clone())
            .for_each(|res| async move {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "workflow controller event");
                }
            });

    let share_ctl = share_ctl
        .watches(Api::<Workflow>::all(client.clone()), all(), move |wf| {
            let key = WorkflowKey::of_workflow(&wf);
            s5.state()
                .iter()
                .filter(|s| WorkflowKey::of_share(s) == key)
                .map(|s| ObjectRef::from_obj(s.as_ref()))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(reconcile_share, error_policy, ctx.clone())
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "share controller event");
            }
        });

    info!("caches filled; controller started");
    // Separate tasks: a reconcile of one controller may wait on the other's store.
    let (a, b) = tokio::join!(tokio::spawn(workflow_ctl), tokio::spawn(share_ctl));
    a?;
    b?;
    info!(writes = ctx.writes.get(), "controller stopped");
    Ok(())
}
