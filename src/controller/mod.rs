//! The controller: reflector stores for everything the planner reads, and seven
//! kube-runtime Controllers.
//!
//! - The workflow controller reconciles each Workflow through one per-workflow sync;
//!   watches on shares, SharedWorkflows, RBAC, namespaces and organizations map
//!   events to the workflows they affect.
//! - The share controller covers shares whose workflow does not exist (status,
//!   cleanup, finalizer), which the workflow controller cannot see.
//! - The clone, organization, project, trigger and run controllers each reconcile
//!   their own kind; a sweep removes what was made for deleted objects (`gone`).

mod apply;
mod authorize;
mod clone;
mod context;
mod echoes;
mod entries;
mod events;
mod existing;
mod fault;
mod gone;
mod grants;
mod lanes;
pub mod leader;
mod listed;
mod notify;
mod objects;
mod organization;
mod readers;
mod runs;
mod status;
mod supervise;
mod sync;
mod triggers;
mod writes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::store::WriterDropped;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tracing::{error, info, warn};

pub use context::{Clients, Context, Stores};
pub use supervise::panic_message;
pub use sync::sync_workflow;

use crate::error::Error;
use crate::labels;
use crate::metrics::{self, Health, Metrics};
use crate::planner::WorkflowKey;
use crate::resources::{
    Organization, Project, ProjectShare, SharedWorkflow, Trigger, TriggerShare, Workflow,
    WorkflowClone, WorkflowRun, WorkflowShare,
};

/// Periodic safety-net resync; changes arrive through watches within seconds.
const RESYNC: Duration = Duration::from_secs(300);
/// Re-check of shares refused because their author may not share.
const RECHECK: Duration = Duration::from_secs(10);
/// Re-check after RBAC an author's right depends on changed (see `sync::Outcome`).
const SETTLING: Duration = Duration::from_secs(2);

fn after(outcome: sync::Outcome) -> Action {
    Action::requeue(if outcome.settling {
        SETTLING
    } else if outcome.recheck_soon {
        RECHECK
    } else {
        RESYNC
    })
}

/// Fan-out of "this workflow may need a sync" to both controllers.
#[derive(Clone)]
struct Triggers {
    workflows: mpsc::UnboundedSender<WorkflowKey>,
    shares: mpsc::UnboundedSender<WorkflowKey>,
    /// Our own writes, whose watch events wake nothing (see `echoes`).
    own_writes: Arc<echoes::OwnWrites>,
}

impl Triggers {
    fn fire(&self, keys: impl IntoIterator<Item = WorkflowKey>) {
        for key in keys {
            // A closed channel means the controller is shutting down.
            let _ = self.workflows.send(key.clone());
            let _ = self.shares.send(key);
        }
    }
}

/// A kind the controller can watch and cache.
pub(crate) trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
}

impl<K> Watched for K where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// A reflector store kept filled by its own task. Each change is mapped to the
/// workflows it affects and triggers them only after the store holds it, so a
/// sync never plans from a store older than the event that woke it.
fn reflect<K, F>(
    watches: &mut Watches,
    api: Api<K>,
    config: watcher::Config,
    triggers: Triggers,
    affected: F,
) -> Store<K>
where
    K: Watched,
    F: Fn(&K) -> Vec<WorkflowKey> + Send + Sync + 'static,
{
    reflect_where(watches, api, config, triggers, always, affected)
}

/// Like `reflect`, waking anything on an update only when `significant(before,
/// after)`: an Organization's status, say, changes no grant.
fn reflect_where<K, F>(
    watches: &mut Watches,
    api: Api<K>,
    config: watcher::Config,
    triggers: Triggers,
    significant: fn(&K, &K) -> bool,
    affected: F,
) -> Store<K>
where
    K: Watched,
    F: Fn(&K) -> Vec<WorkflowKey> + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    spawn_projected_reflector(
        watches,
        api,
        config,
        |o| o,
        significant,
        writer,
        triggers,
        |_| {},
        affected,
    );
    store
}

/// Every update is significant.
fn always<K>(_: &K, _: &K) -> bool {
    true
}

/// Like `reflect`, for a store created by the caller (needed before the mappers exist).
fn spawn_reflector<K, F>(
    watches: &mut Watches,
    api: Api<K>,
    config: watcher::Config,
    writer: reflector::store::Writer<K>,
    triggers: Triggers,
    affected: F,
) where
    K: Watched,
    F: Fn(&K) -> Vec<WorkflowKey> + Send + Sync + 'static,
{
    spawn_projected_reflector(
        watches,
        api,
        config,
        |o| o,
        always,
        writer,
        triggers,
        |_| {},
        affected,
    );
}

/// Like `spawn_reflector`, caching `project(object)` instead of each whole object.
#[allow(clippy::too_many_arguments)]
fn spawn_projected_reflector<S, K, P, F>(
    watches: &mut Watches,
    api: Api<S>,
    config: watcher::Config,
    project: P,
    significant: fn(&K, &K) -> bool,
    writer: reflector::store::Writer<K>,
    triggers: Triggers,
    observe: impl Fn(&watcher::Event<K>) + Send + 'static,
    affected: F,
) where
    S: Watched,
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    P: Fn(S) -> K + Send + Sync + 'static,
    F: Fn(&K) -> Vec<WorkflowKey> + Send + Sync + 'static,
{
    let reader = writer.as_reader();
    watches
        .ready
        .push(Box::pin(async move { reader.wait_until_ready().await }));
    let known = writer.as_reader();
    let before_update = writer.as_reader();
    let own_writes = triggers.own_writes.clone();
    // Whether the event passing through is an insignificant update: judged against
    // the store before the reflector applies it, read after (one event at a time).
    let quiet = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let judged = quiet.clone();
    let stream = reflector::reflector(
        writer,
        watcher(api, config)
            .default_backoff()
            // Nothing reads managedFields, and they are a large part of every object.
            .modify(|obj| obj.managed_fields_mut().clear())
            .map_ok(move |event| {
                let echo = matches!(&event, watcher::Event::Apply(obj) if own_writes.is_echo(obj));
                let event = projected(event, &project);
                observe(&event);
                let insignificant = echo
                    || match &event {
                        watcher::Event::Apply(obj) => before_update
                            .get(&ObjectRef::from_obj(obj))
                            .is_some_and(|before| !significant(&before, obj)),
                        _ => false,
                    };
                judged.store(insignificant, std::sync::atomic::Ordering::SeqCst);
                event
            }),
    );
    // A relist (after a watch expired or the API server restarted) delivers every
    // object again; only those that changed meanwhile wake anything, and only once
    // the relist is done: the store takes the relisted objects all at once then, and
    // a sync woken before would plan from the store as it was before the relist.
    let mut relisting: Option<HashMap<ObjectRef<K>, Arc<K>>> = None;
    let mut changed: Vec<K> = Vec::new();
    let watch = stream.for_each(move |res| {
        match res {
            Ok(watcher::Event::Apply(_)) if quiet.load(std::sync::atomic::Ordering::SeqCst) => {}
            Ok(watcher::Event::Apply(obj) | watcher::Event::Delete(obj)) => {
                triggers.fire(affected(&obj))
            }
            Ok(watcher::Event::Init) => {
                changed.clear();
                // The store still holds what the previous watch saw.
                relisting = Some(
                    known
                        .state()
                        .into_iter()
                        .map(|o| (ObjectRef::from_obj(o.as_ref()), o))
                        .collect(),
                );
            }
            Ok(watcher::Event::InitApply(obj)) => {
                let before = relisting
                    .as_mut()
                    .and_then(|seen| seen.remove(&ObjectRef::from_obj(&obj)));
                let unchanged = before.is_some_and(|b| {
                    b.resource_version().is_some() && b.resource_version() == obj.resource_version()
                });
                if !unchanged {
                    changed.push(obj);
                }
            }
            Ok(watcher::Event::InitDone) => {
                for obj in std::mem::take(&mut changed) {
                    triggers.fire(affected(&obj));
                }
                // Deleted while the watch was down: the last known object says whom it affected.
                for gone in relisting.take().unwrap_or_default().into_values() {
                    triggers.fire(affected(&gone));
                }
            }
            Err(error) => warn!(%error, "watch failed; retrying with backoff"),
        }
        async {}
    });
    // The watcher retries forever, so this task ending at all is a failure.
    watches.tasks.spawn(async move {
        watch.await;
        format!("watch of {}", K::plural(&()))
    });
}

/// A watch event with its object replaced by `project(object)`.
fn projected<S, K>(event: watcher::Event<S>, project: impl Fn(S) -> K) -> watcher::Event<K> {
    use watcher::Event;
    match event {
        Event::Apply(o) => Event::Apply(project(o)),
        Event::Delete(o) => Event::Delete(project(o)),
        Event::InitApply(o) => Event::InitApply(project(o)),
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
    }
}

/// Long-running tasks, each returning its name when it ends.
type Tasks = tokio::task::JoinSet<String>;

/// Every watch the planner reads from: its task and when its first list is in.
/// Watching one more kind is one `reflect` call; waiting for it comes with it.
#[derive(Default)]
struct Watches {
    tasks: Tasks,
    ready: Vec<futures::future::BoxFuture<'static, Result<(), WriterDropped>>>,
}

impl Watches {
    /// Waits until every store has its initial list: planning from a partial view
    /// would revoke grants that are still declared.
    async fn all_ready(&mut self) -> Result<(), WriterDropped> {
        futures::future::try_join_all(std::mem::take(&mut self.ready)).await?;
        Ok(())
    }
}

fn workflow_ref(key: WorkflowKey) -> ObjectRef<Workflow> {
    ObjectRef::new(&key.name).within(&key.namespace)
}

/// Workflows whose grants may change when membership or labels of `namespace` change:
/// those shared to it explicitly or org-wide, and every workflow owned in it (its
/// organization decides whether creators may share; org-wide shares reach its members).
fn keys_touching_namespace(
    shares: &Store<WorkflowShare>,
    workflows: &Store<Workflow>,
    namespace: &str,
) -> Vec<WorkflowKey> {
    keys_touching(shares, workflows, namespace, |_| true)
}

/// Like `keys_touching_namespace`, for a membership change in `namespace`: org-wide
/// shares reach its members only if it belongs to the share's organization, so a
/// workspace preparing to join (its managers bound first) wakes nobody else.
fn keys_touching_members(
    shares: &Store<WorkflowShare>,
    workflows: &Store<Workflow>,
    namespaces: &Store<Namespace>,
    namespace: &str,
) -> Vec<WorkflowKey> {
    let organization_of = |ns: &str| {
        namespaces
            .get(&ObjectRef::new(ns))
            .and_then(|n| n.labels().get(labels::ORGANIZATION).cloned())
    };
    let Some(organization) = organization_of(namespace) else {
        return keys_touching(shares, workflows, namespace, |_| false);
    };
    keys_touching(shares, workflows, namespace, |share_ns| {
        organization_of(share_ns).as_ref() == Some(&organization)
    })
}

/// Shares naming `namespace`, shares owned in it, org-wide shares whose namespace
/// passes `org_wide_reaches`, and the workflows owned in it.
fn keys_touching(
    shares: &Store<WorkflowShare>,
    workflows: &Store<Workflow>,
    namespace: &str,
    org_wide_reaches: impl Fn(&str) -> bool,
) -> Vec<WorkflowKey> {
    let mut keys: Vec<WorkflowKey> = shares
        .state()
        .iter()
        .filter(|s| {
            let share_ns = s.namespace();
            share_ns.as_deref() == Some(namespace)
                || s.spec.workspaces.iter().any(|w| w == namespace)
                || (s.spec.entire_organization
                    && share_ns.as_deref().is_some_and(&org_wide_reaches))
        })
        .filter_map(|s| WorkflowKey::of_share(s))
        .collect();
    keys.extend(
        workflows
            .state()
            .iter()
            .filter(|w| w.namespace().as_deref() == Some(namespace))
            .filter_map(|w| WorkflowKey::of_workflow(w)),
    );
    keys.sort();
    keys.dedup();
    keys
}

/// Every workflow and every shared key: an Organization's settings reach all of them.
/// What of an Organization decides grants: its spec and metadata, not its status
/// (which the organization controller rewrites whenever a workspace joins).
fn organization_changed(before: &Organization, after: &Organization) -> bool {
    before.spec != after.spec
        || before.metadata.labels != after.metadata.labels
        || before.metadata.annotations != after.metadata.annotations
        || before.metadata.deletion_timestamp != after.metadata.deletion_timestamp
}

fn all_keys(shares: &Store<WorkflowShare>, workflows: &Store<Workflow>) -> Vec<WorkflowKey> {
    let mut keys = all_shared_keys(shares);
    keys.extend(
        workflows
            .state()
            .iter()
            .filter_map(|w| WorkflowKey::of_workflow(w)),
    );
    keys.sort();
    keys.dedup();
    keys
}

fn all_shared_keys(shares: &Store<WorkflowShare>) -> Vec<WorkflowKey> {
    shares
        .state()
        .iter()
        .filter_map(|s| WorkflowKey::of_share(s))
        .collect()
}

/// One of our Roles or RoleBindings changed (our own writes included): kept answers
/// about who may share that it may have decided are asked again. A creator's grant
/// decides about its object; an auditor or coordinator binding, about its namespace.
/// Readers' grants give only reads and decide nothing about sharing.
fn rbac_changed<R: Resource>(decisions: &authorize::Decisions, obj: &R) {
    let meta = obj.meta();
    let (Some(namespace), Some(name)) = (meta.namespace.as_deref(), meta.name.as_deref()) else {
        return;
    };
    if crate::naming::is_creator_rbac_name(name) {
        decisions.creator_grant_changed(namespace, name);
    } else if meta
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(labels::ORGANIZATION_GRANT))
    {
        decisions.namespace_changed(namespace);
    }
}

fn is_ours<R: Resource>(obj: &R) -> bool {
    obj.meta()
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::MANAGED_BY_KEY))
        .map(String::as_str)
        == Some(labels::MANAGED_BY_VALUE)
}

/// A tick whenever membership, a namespace or an organization changes (a lagging
/// receiver counts as a change too: better one reconcile too many than one missed).
fn audience_changes(
    audience: &tokio::sync::broadcast::Sender<()>,
) -> impl futures::Stream<Item = ()> + Send + 'static {
    tokio_stream::wrappers::BroadcastStream::new(audience.subscribe()).map(|_| ())
}

/// Workflows to sync when a generated Role or RoleBinding changes under us: its
/// source workflow, or for a workspace's organization readers grant, one of the
/// workflows shared organization-wide there (any sync of one restores the grant).
fn sources_of_rbac<R: Resource>(
    obj: &R,
    workflows: &Store<Workflow>,
    shares: &Store<WorkflowShare>,
) -> Vec<WorkflowKey> {
    if obj.meta().name.as_deref() != Some(crate::naming::organization_readers_name().as_str()) {
        return source_of_rbac(obj, workflows).into_iter().collect();
    }
    let Some(namespace) = obj.meta().namespace.as_deref() else {
        return Vec::new();
    };
    shares
        .state()
        .iter()
        .filter(|s| {
            s.spec.entire_organization && s.metadata.namespace.as_deref() == Some(namespace)
        })
        .filter_map(|s| WorkflowKey::of_share(s))
        .min()
        .into_iter()
        .collect()
}

/// Source workflow of a generated Role or RoleBinding, from its labels.
fn source_of_rbac<R: Resource>(obj: &R, workflows: &Store<Workflow>) -> Option<WorkflowKey> {
    let labels = obj.meta().labels.as_ref()?;
    if labels.get(labels::MANAGED_BY_KEY).map(String::as_str) != Some(labels::MANAGED_BY_VALUE) {
        return None;
    }
    let ns = labels.get(labels::SOURCE_NAMESPACE)?;
    let wf = labels.get(labels::SOURCE_WORKFLOW)?;
    // The label holds the name itself unless the name was too long for a label.
    if workflows.get(&ObjectRef::new(wf).within(ns)).is_some() {
        return Some(WorkflowKey {
            namespace: ns.clone(),
            name: wf.clone(),
        });
    }
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
}

async fn reconcile_workflow(wf: Arc<Workflow>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = WorkflowKey::of_workflow(&wf).ok_or(Error::MissingField("metadata.namespace"))?;
    Ok(after(sync_workflow(&ctx, &key).await?))
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
    Ok(after(sync_workflow(&ctx, &key).await?))
}

/// Options of `workflow-share controller`.
#[derive(Clone, Debug)]
pub struct Options {
    pub instance: String,
    /// Address of /metrics, /healthz and /readyz.
    pub metrics_addr: std::net::SocketAddr,
    /// Leader election; None runs without it (a single replica).
    pub lease: Option<leader::LeaseOptions>,
    /// The controller's own namespace: the identity the who-may-share check asks
    /// about existing objects lives there (see `existing`).
    pub namespace: String,
}

/// Runs the controllers until SIGTERM or Ctrl-C. Returns an error (the process
/// exits non-zero) as soon as any controller loop or watch stops on its own.
pub async fn run(clients: Clients, options: Options) -> anyhow::Result<()> {
    let client = clients.watches.clone();
    let mut watches = Watches::default();
    let all = watcher::Config::default;
    let managed = || {
        watcher::Config::default().labels(&format!(
            "{}={}",
            labels::MANAGED_BY_KEY,
            labels::MANAGED_BY_VALUE
        ))
    };
    let workspace_roles = || watcher::Config::default().labels(labels::WORKSPACE_ROLE);
    let (wf_tx, wf_rx) = mpsc::unbounded_channel::<WorkflowKey>();
    let (share_tx, share_rx) = mpsc::unbounded_channel::<WorkflowKey>();
    let own_writes = Arc::new(echoes::OwnWrites::default());
    let triggers = Triggers {
        workflows: wf_tx,
        shares: share_tx,
        own_writes: own_writes.clone(),
    };

    // The planner reads these caches; every change in them triggers the workflows it affects.
    let (share_store, share_writer) = reflector::store::<WorkflowShare>();
    let (wf_store, wf_writer) = reflector::store::<Workflow>();
    let (ns_store, ns_writer) = reflector::store::<Namespace>();
    let (s1, s2, s3, s4, s5) = (
        share_store.clone(),
        share_store.clone(),
        share_store.clone(),
        share_store.clone(),
        share_store.clone(),
    );
    let (clone_tx, clone_rx) = mpsc::unbounded_channel::<(String, String)>();
    let (project_tx, project_rx) = mpsc::unbounded_channel::<ObjectRef<Project>>();
    let (trigger_tx, trigger_rx) = mpsc::unbounded_channel::<ObjectRef<Trigger>>();
    // Membership, namespaces and organizations decide who sees projects and triggers.
    let (audience, _) = tokio::sync::broadcast::channel::<()>(64);
    let (a1, a2, a3, a4) = (
        audience.clone(),
        audience.clone(),
        audience.clone(),
        audience.clone(),
    );
    // Deleted objects wake the sweep of what was made for them (see `gone`).
    let sweeper = Arc::new(gone::Sweeper::default());
    // RBAC changes seen here make the API server's kept answers be asked again.
    let decisions = Arc::new(authorize::Decisions::default());
    let (d1, d2, d3, d4) = (
        decisions.clone(),
        decisions.clone(),
        decisions.clone(),
        decisions.clone(),
    );
    let n1 = ns_store.clone();
    // Those same changes make the directory be built again.
    let directory = Arc::new(context::DirectoryCache::default());
    let (c1, c2, c3, c4) = (
        directory.clone(),
        directory.clone(),
        directory.clone(),
        directory.clone(),
    );
    let (w1, w2, w3, w4, w5) = (
        wf_store.clone(),
        wf_store.clone(),
        wf_store.clone(),
        wf_store.clone(),
        wf_store.clone(),
    );
    // Library entries, one per grant: cached as a projection (see `entries`).
    let (entry_store, entry_writer) = reflector::store::<entries::Entry>();
    let entry_index = Arc::new(entries::EntryIndex::default());
    spawn_projected_reflector(
        &mut watches,
        Api::<SharedWorkflow>::all(client.clone()),
        all(),
        entries::Entry::from,
        always,
        entry_writer,
        triggers.clone(),
        {
            let index = entry_index.clone();
            move |event| index.observe(event)
        },
        move |entry: &entries::Entry| {
            // A clone waiting for this entry proceeds as soon as it appears.
            if let Some(ns) = entry.namespace() {
                let _ = clone_tx.send((ns, entry.name_any()));
            }
            let declared = WorkflowKey {
                namespace: entry.source.namespace.clone(),
                name: entry.source.name.clone(),
            };
            // An object we do not own may hold a generated name (`<namespace>.<workflow>`):
            // its removal must wake the workflow whose grant it blocked.
            let by_name = entry
                .name_any()
                .split_once('.')
                .map(|(ns, wf)| WorkflowKey {
                    namespace: ns.to_string(),
                    name: wf.to_string(),
                });
            let mut keys = vec![declared];
            keys.extend(by_name.filter(|k| k != &keys[0]));
            keys
        },
    );
    let gone_organizations = sweeper.clone();
    // Projects and triggers have controllers of their own (below), fed by these watches.
    let (projects, project_events) = watched_with_deletes::<Project>(&client, sweeper.clone());
    let (trigger_store, trigger_events) = watched_with_deletes::<Trigger>(&client, sweeper.clone());
    let stores = Stores {
        organizations: reflect_where(
            &mut watches,
            Api::all(client.clone()),
            all(),
            triggers.clone(),
            organization_changed,
            move |_: &Organization| {
                gone_organizations.poke();
                c1.invalidate();
                d1.all_changed();
                let _ = a1.send(());
                all_keys(&s1, &w3)
            },
        ),
        namespaces: ns_store.clone(),
        cluster_roles: reflect(
            &mut watches,
            Api::all(client.clone()),
            workspace_roles(),
            triggers.clone(),
            move |_: &ClusterRole| {
                c2.invalidate();
                d2.all_changed();
                let _ = a3.send(());
                all_shared_keys(&s3)
            },
        ),
        role_bindings: reflect(
            &mut watches,
            Api::all(client.clone()),
            all(),
            triggers.clone(),
            move |rb: &RoleBinding| {
                if is_ours(rb) {
                    // Kept answers about sharing forget what this grant may have decided.
                    rbac_changed(&d3, rb);
                    // Our own grants wake only the workflow they serve.
                    return sources_of_rbac(rb, &w1, &s4);
                }
                // Membership changed: who sees what may have changed.
                c3.invalidate();
                if let Some(ns) = rb.namespace() {
                    d3.namespace_changed(&ns);
                }
                let _ = a4.send(());
                rb.namespace()
                    .map(|ns| keys_touching_members(&s4, &w5, &n1, &ns))
                    .unwrap_or_default()
            },
        ),
        roles: reflect(
            &mut watches,
            Api::all(client.clone()),
            managed(),
            triggers.clone(),
            move |r: &Role| {
                rbac_changed(&d4, r);
                sources_of_rbac(r, &w2, &s5)
            },
        ),
        shared_workflows: entry_store,
        entry_index,
        workflows: wf_store.clone(),
        shares: share_store.clone(),
        // Projects and triggers have controllers of their own, woken by these kinds directly.
        // A share change wakes its project or trigger once the store holds it.
        project_shares: reflect(
            &mut watches,
            Api::all(client.clone()),
            all(),
            triggers.clone(),
            move |s: &ProjectShare| {
                if let Some(ns) = s.namespace() {
                    let _ = project_tx.send(ObjectRef::new(&s.spec.project_ref.name).within(&ns));
                }
                Vec::new()
            },
        ),
        trigger_shares: reflect(
            &mut watches,
            Api::all(client.clone()),
            all(),
            triggers.clone(),
            move |s: &TriggerShare| {
                if let Some(ns) = s.namespace() {
                    let _ = trigger_tx.send(ObjectRef::new(&s.spec.trigger_ref.name).within(&ns));
                }
                Vec::new()
            },
        ),
        directory,
        workflow_runs: reflect(
            &mut watches,
            Api::all(client.clone()),
            all(),
            triggers.clone(),
            |_: &WorkflowRun| Vec::new(),
        ),
        projects: projects.clone(),
        triggers: trigger_store.clone(),
    };
    spawn_reflector(
        &mut watches,
        Api::all(client.clone()),
        all(),
        ns_writer,
        triggers.clone(),
        move |ns: &Namespace| {
            c4.invalidate();
            let _ = a2.send(());
            keys_touching_namespace(&s2, &w4, &ns.name_any())
        },
    );
    let (workflows_now, gone_workflows) = (wf_store.clone(), sweeper.clone());
    spawn_reflector(
        &mut watches,
        Api::<Workflow>::all(client.clone()),
        all(),
        wf_writer,
        triggers.clone(),
        move |w| {
            let key = WorkflowKey::of_workflow(w);
            if let Some(key) = &key {
                fault::on_workflow_event(key);
                // The store already shows the event: absent means deleted.
                if workflows_now.get(&ObjectRef::from_obj(w)).is_none() {
                    gone_workflows.workflow_gone(key.clone());
                }
            }
            key.into_iter().collect()
        },
    );
    spawn_reflector(
        &mut watches,
        Api::<WorkflowShare>::all(client.clone()),
        all(),
        share_writer,
        triggers.clone(),
        |s| WorkflowKey::of_share(s).into_iter().collect(),
    );

    let metrics = Arc::new(Metrics::default());
    let server = metrics::serve(options.metrics_addr, metrics.clone());
    let mut background = std::mem::take(&mut watches.tasks);
    background.spawn(async move {
        if let Err(error) = server.await {
            error!(%error, "metrics and health server failed");
        }
        "metrics and health server".to_string()
    });
    let ctx = Arc::new(Context::new(
        &clients,
        stores,
        decisions,
        own_writes,
        options.instance,
        options.namespace,
        metrics,
    ));
    tokio::select! {
        ready = watches.all_ready() => ready.map_err(|_| Error::StoresClosed)?,
        Some(ended) = background.join_next() => return Err(failed(&ctx, ended)),
        _ = supervise::shutdown_signal() => return Ok(()),
    }

    // With the caches filled, wait to lead: a standby replica is ready (it could take
    // over at once) but reconciles nothing.
    let mut election = match &options.lease {
        Some(lease) => Some(leader::Election::start(client.clone(), lease).await?),
        None => None,
    };
    if let Some(candidate) = election.as_mut() {
        ctx.metrics.set_health(Health::Standby);
        info!("caches filled; waiting for the leader Lease");
        let stop = tokio::select! {
            leading = candidate.until_leading() => { leading?; false }
            Some(ended) = background.join_next() => return Err(failed(&ctx, ended)),
            _ = supervise::shutdown_signal() => true,
        };
        if stop {
            if let Some(candidate) = election {
                candidate.release().await;
            }
            return Ok(());
        }
        info!("leading: starting the controllers");
    }
    ctx.metrics.leader.set(1);

    // Every controller stops at the same signal, after finishing the reconciles it runs.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopping = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let mut loops = Tasks::new();

    // The workflow and share controllers read the stores above and are woken only
    // through them (their own changes included), so neither watches anything twice
    // and a relist wakes only what changed.
    let workflow_ctl = Controller::for_stream(
        futures::stream::pending::<Result<Workflow, watcher::Error>>(),
        wf_store.clone(),
    )
    .reconcile_on(UnboundedReceiverStream::new(wf_rx).map(workflow_ref))
    .graceful_shutdown_on(stopping())
    .run(
        |wf, ctx| supervise::guarded(wf, ctx, reconcile_workflow),
        supervise::error_policy,
        ctx.clone(),
    )
    .for_each(|res| async move {
        if let Err(e) = res {
            tracing::debug!(error = %e, "workflow controller event");
        }
    });
    loops.spawn(workflow_ctl.map(|_| "workflow controller".to_string()));

    // Shares are queued for keys whose workflow is missing; the others are the workflow controller's.
    let shares_for_missing = share_store.clone();
    let workflows_known = wf_store.clone();
    let share_ctl = Controller::for_stream(
        futures::stream::pending::<Result<WorkflowShare, watcher::Error>>(),
        share_store.clone(),
    )
    .reconcile_on(UnboundedReceiverStream::new(share_rx).flat_map(move |key| {
        let refs: Vec<ObjectRef<WorkflowShare>> =
            if workflows_known.get(&workflow_ref(key.clone())).is_some() {
                Vec::new()
            } else {
                shares_for_missing
                    .state()
                    .iter()
                    .filter(|s| WorkflowKey::of_share(s).as_ref() == Some(&key))
                    .map(|s| ObjectRef::from_obj(s.as_ref()))
                    .collect()
            };
        futures::stream::iter(refs)
    }))
    .graceful_shutdown_on(stopping())
    .run(
        |share, ctx| supervise::guarded(share, ctx, reconcile_share),
        supervise::error_policy,
        ctx.clone(),
    )
    .for_each(|res| async move {
        if let Err(e) = res {
            tracing::debug!(error = %e, "share controller event");
        }
    });
    loops.spawn(share_ctl.map(|_| "share controller".to_string()));

    // A clone waiting for its SharedWorkflow proceeds as soon as the entry appears.
    let clone_ctl = Controller::new(Api::<WorkflowClone>::all(client.clone()), all());
    let clones = clone_ctl.store();
    let clone_ctl = clone_ctl
        .reconcile_on(
            UnboundedReceiverStream::new(clone_rx).flat_map(move |(ns, entry)| {
                let waiting: Vec<ObjectRef<WorkflowClone>> = clones
                    .state()
                    .iter()
                    .filter(|c| {
                        c.namespace().as_deref() == Some(ns.as_str())
                            && c.spec.shared_workflow_ref.name == entry
                    })
                    .map(|c| ObjectRef::from_obj(c.as_ref()))
                    .collect();
                futures::stream::iter(waiting)
            }),
        )
        .graceful_shutdown_on(stopping())
        .run(
            |clone, ctx| supervise::guarded(clone, ctx, clone::reconcile),
            supervise::error_policy,
            ctx.clone(),
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "clone controller event");
            }
        });
    loops.spawn(clone_ctl.map(|_| "clone controller".to_string()));

    let org_ctl = Controller::new(Api::<Organization>::all(client.clone()), all())
        .watches(Api::<Namespace>::all(client.clone()), all(), {
            let tracker = organization::MembershipTracker::default();
            move |ns| tracker.organizations_of(&ns)
        })
        // Someone removing or editing an auditor or coordinator binding wakes its organization.
        .watches(
            Api::<RoleBinding>::all(client.clone()),
            watcher::Config::default().labels(labels::ORGANIZATION_GRANT),
            |rb| organization::organization_of_binding(&rb),
        )
        .graceful_shutdown_on(stopping())
        .run(
            |org, ctx| supervise::guarded(org, ctx, organization::reconcile),
            supervise::error_policy,
            ctx.clone(),
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "organization controller event");
            }
        });
    loops.spawn(org_ctl.map(|_| "organization controller".to_string()));

    // Projects and triggers: their shares name them; membership, namespaces and
    // organizations may change who sees any of them.
    let project_ctl = Controller::for_stream(project_events, projects.clone())
        .reconcile_on(UnboundedReceiverStream::new(project_rx))
        .reconcile_all_on(audience_changes(&audience))
        .graceful_shutdown_on(stopping())
        .run(
            |p, ctx| supervise::guarded(p, ctx, triggers::reconcile_project),
            supervise::error_policy,
            ctx.clone(),
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "project controller event");
            }
        });
    loops.spawn(project_ctl.map(|_| "project controller".to_string()));

    let trigger_ctl = Controller::for_stream(trigger_events, trigger_store.clone())
        .reconcile_on(UnboundedReceiverStream::new(trigger_rx))
        .reconcile_all_on(audience_changes(&audience))
        .graceful_shutdown_on(stopping())
        .run(
            |t, ctx| supervise::guarded(t, ctx, triggers::reconcile),
            supervise::error_policy,
            ctx.clone(),
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "trigger controller event");
            }
        });
    loops.spawn(trigger_ctl.map(|_| "trigger controller".to_string()));

    let run_ctl = Controller::new(Api::<WorkflowRun>::all(client.clone()), all())
        .graceful_shutdown_on(stopping())
        .run(
            |r, ctx| supervise::guarded(r, ctx, runs::reconcile),
            supervise::error_policy,
            ctx.clone(),
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "run controller event");
            }
        });
    loops.spawn(run_ctl.map(|_| "run controller".to_string()));

    // What was made for deleted objects goes with them, swept until the stop signal.
    let sweep = gone::run(ctx.clone(), sweeper);
    let stop_sweep = stopping();
    loops.spawn(async move {
        tokio::select! {
            _ = sweep => {}
            _ = stop_sweep => {}
        }
        "deleted-object sweep".to_string()
    });

    ctx.metrics.set_health(Health::Running);
    info!("caches filled; controller started");
    let lost = async {
        match election.as_mut() {
            Some(e) => e.lost().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        Some(ended) = loops.join_next() => return Err(failed(&ctx, ended)),
        Some(ended) = background.join_next() => return Err(failed(&ctx, ended)),
        _ = lost => {
            // Another replica may be reconciling already: stop at once, mid-reconcile
            // if need be (every write is idempotent), and exit so that this replica
            // restarts as a candidate.
            loops.abort_all();
            ctx.metrics.leader.set(0);
            ctx.metrics.set_health(Health::Failed);
            error!("lost the leader Lease; stopped reconciling, exiting");
            return Err(anyhow::anyhow!("lost the leader Lease"));
        }
        _ = supervise::shutdown_signal() => {}
    }
    ctx.metrics.set_health(Health::Stopping);
    info!("stopping: finishing the reconciles in progress");
    let _ = stop_tx.send(true);
    while loops.join_next().await.is_some() {}
    if let Some(election) = election {
        election.release().await;
        info!("released the leader Lease");
    }
    ctx.metrics.leader.set(0);
    background.abort_all();
    info!(writes = ctx.metrics.total_writes(), "controller stopped");
    Ok(())
}

/// A cache of `K` for a Controller, and the stream of its changed objects; a deletion
/// also pokes `sweeper` (a Controller alone does not see deletions).
fn watched_with_deletes<K>(
    client: &kube::Client,
    sweeper: Arc<gone::Sweeper>,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Watched,
{
    let (store, writer) = reflector::store::<K>();
    let events = watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(|obj| obj.managed_fields_mut().clear())
        .reflect(writer)
        .inspect_ok(move |event| {
            if matches!(event, watcher::Event::Delete(_)) {
                sweeper.poke();
            }
        })
        .applied_objects();
    (store, events)
}

/// A long-running task ended without being asked to: report it and fail, so the
/// process exits non-zero and Kubernetes restarts it.
fn failed(ctx: &Context, ended: Result<String, tokio::task::JoinError>) -> anyhow::Error {
    ctx.metrics.set_health(Health::Failed);
    let what = match ended {
        Ok(name) => format!("{name} stopped unexpectedly"),
        Err(e) if e.is_panic() => format!(
            "a controller task panicked: {}",
            supervise::panic_message(e.into_panic().as_ref())
        ),
        Err(e) => format!("a controller task was cancelled: {e}"),
    };
    error!(%what, "controller failed; exiting so that it is restarted");
    anyhow::anyhow!(what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{OrganizationSpec, OrganizationStatus};

    fn organization(display_name: &str, workspaces: i32) -> Organization {
        let mut org = Organization::new(
            "acme",
            OrganizationSpec {
                display_name: display_name.into(),
                ..Default::default()
            },
        );
        org.status = Some(OrganizationStatus {
            workspace_count: workspaces,
            ..Default::default()
        });
        org
    }

    #[test]
    fn an_organization_status_change_wakes_nothing_a_spec_change_does() {
        let before = organization("Acme", 3);
        assert!(!organization_changed(&before, &organization("Acme", 4)));
        assert!(organization_changed(&before, &organization("Acme Corp", 3)));
        let mut labelled = organization("Acme", 3);
        labelled.labels_mut().insert("tier".into(), "gold".into());
        assert!(organization_changed(&before, &labelled));
    }
}
