//! What the controller watches, and what each change wakes (client required for
//! the watches; the choice of what to wake is the planner's `wakeups`).
//!
//! Every kind the planner reads is cached here. A change reacts once its cache holds
//! it: it wakes the workflow syncs it affects (`Reactions::sync`), the clone waiting
//! for an entry, the project or trigger a share names, and it forgets what the
//! change made stale (the directory, the API server's kept answers). One
//! `Reactions` value carries all of it to every watch.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::{BroadcastStream, UnboundedReceiverStream};

use super::context::{DirectoryCache, Stores};
use super::sharing::authorize::Decisions;
use super::sharing::entry_cache::{Entries, Entry};
use super::sweep::Sweeper;
use super::webhooks::WebhookPaths;
use crate::labels;
use crate::planner::webhook::TOKEN_SECRET_TYPE;
use crate::planner::{WorkflowKey, wakeups};
use crate::resources::{
    Organization, Project, ProjectShare, Trigger, TriggerShare, Workflow, WorkflowRun,
    WorkflowShare,
};
use crate::runtime::fault;
use crate::runtime::watch::{Watch, Watches, controller_source};

/// Everything a change may wake or make stale.
#[derive(Clone)]
pub struct Reactions {
    workflow_syncs: mpsc::UnboundedSender<WorkflowKey>,
    share_syncs: mpsc::UnboundedSender<WorkflowKey>,
    clones: mpsc::UnboundedSender<(String, String)>,
    projects: mpsc::UnboundedSender<ObjectRef<Project>>,
    triggers: mpsc::UnboundedSender<ObjectRef<Trigger>>,
    /// Membership, namespaces and organizations decide who sees projects and triggers.
    audience: broadcast::Sender<()>,
    /// Deleted objects wake the sweep of what was made for them.
    pub sweeper: Arc<Sweeper>,
    /// RBAC changes make the API server's kept answers be asked again.
    pub decisions: Arc<Decisions>,
    directory: Arc<DirectoryCache>,
    shares: Store<WorkflowShare>,
    workflows: Store<Workflow>,
    namespaces: Store<Namespace>,
    triggers_cache: Store<Trigger>,
}

/// The wake-ups, for the controllers that act on them.
pub struct Queues {
    pub workflow_syncs: BoxStream<'static, WorkflowKey>,
    pub share_syncs: BoxStream<'static, WorkflowKey>,
    /// `(namespace, entry name)` of each library entry that changed.
    pub entries: BoxStream<'static, (String, String)>,
    pub projects: BoxStream<'static, ObjectRef<Project>>,
    pub project_changes: BoxStream<'static, Result<Project, watcher::Error>>,
    pub triggers: BoxStream<'static, ObjectRef<Trigger>>,
    pub trigger_changes: BoxStream<'static, Result<Trigger, watcher::Error>>,
    audience: broadcast::Sender<()>,
}

impl Queues {
    /// A tick whenever membership, a namespace or an organization changes (a lagging
    /// receiver counts as a change too: better one reconcile too many than one missed).
    pub fn audience_changes(&self) -> BoxStream<'static, ()> {
        BroadcastStream::new(self.audience.subscribe())
            .map(|_| ())
            .boxed()
    }
}

impl Reactions {
    /// Wakes the syncs of `keys`, in both the workflow and the share controller.
    fn sync(&self, keys: impl IntoIterator<Item = WorkflowKey>) {
        for key in keys {
            // A closed channel means the controller is shutting down.
            let _ = self.workflow_syncs.send(key.clone());
            let _ = self.share_syncs.send(key);
        }
    }

    fn audience_changed(&self) {
        let _ = self.audience.send(());
    }

    fn organization_of(&self, namespace: &str) -> Option<String> {
        self.namespaces
            .get(&ObjectRef::new(namespace))
            .and_then(|n| n.labels().get(labels::ORGANIZATION).cloned())
    }

    fn organization(&self) {
        self.sweeper.poke();
        self.directory.invalidate();
        self.decisions.all_changed();
        self.audience_changed();
        self.sync(wakeups::everything(
            &self.shares.state(),
            &self.workflows.state(),
        ));
    }

    fn namespace(&self, ns: &Namespace) {
        self.directory.invalidate();
        self.audience_changed();
        self.sync(wakeups::touching_namespace(
            &self.shares.state(),
            &self.workflows.state(),
            &ns.name_any(),
        ));
    }

    fn workspace_role(&self) {
        self.directory.invalidate();
        self.decisions.all_changed();
        self.audience_changed();
        self.sync(wakeups::every_shared(&self.shares.state()));
    }

    fn role_binding(&self, rb: &RoleBinding) {
        if is_ours(rb) {
            // Kept answers about sharing forget what this grant may have decided;
            // our own grants wake only the workflow they serve.
            self.our_grant(rb);
            return;
        }
        // Membership changed: who sees what may have changed.
        self.directory.invalidate();
        let Some(ns) = rb.namespace() else { return };
        self.decisions.namespace_changed(&ns);
        self.audience_changed();
        self.sync(wakeups::touching_members(
            &self.shares.state(),
            &self.workflows.state(),
            |ns| self.organization_of(ns),
            &ns,
        ));
    }

    /// One of our Roles or RoleBindings changed by someone else, or deleted (the
    /// echo of our own apply wakes nothing; the sync that wrote it knows): kept
    /// answers about who may share that it may have decided are asked again. A
    /// creator's grant decides about its object; an auditor or coordinator binding,
    /// about its namespace. Readers' grants decide nothing about sharing.
    fn our_grant<R: Resource>(&self, obj: &R) {
        let meta = obj.meta();
        if let (Some(namespace), Some(name)) = (meta.namespace.as_deref(), meta.name.as_deref()) {
            if crate::naming::is_creator_rbac_name(name) {
                self.decisions.creator_grant_changed(namespace, name);
            } else if meta
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(labels::ORGANIZATION_GRANT))
            {
                self.decisions.namespace_changed(namespace);
            }
        }
        let workflows = &self.workflows;
        self.sync(wakeups::sources_of_grant(
            meta,
            &workflows.state(),
            |ns, name| workflows.get(&ObjectRef::new(name).within(ns)).is_some(),
            &self.shares.state(),
        ));
    }

    fn entry(&self, entry: &Entry) {
        // A clone waiting for this entry proceeds as soon as it appears.
        let _ = self
            .clones
            .send((entry.namespace().to_string(), entry.name().to_string()));
        let source = WorkflowKey {
            namespace: entry.source.namespace.clone(),
            name: entry.source.name.clone(),
        };
        self.sync(wakeups::of_entry(source, entry.name()));
    }

    fn workflow(&self, wf: &Workflow) {
        let Some(key) = WorkflowKey::of_workflow(wf) else {
            return;
        };
        fault::on_workflow_event(&key);
        // The cache already shows the event: absent means deleted.
        if self.workflows.get(&ObjectRef::from_obj(wf)).is_none() {
            self.sweeper.workflow_gone(key.clone());
        }
        self.sync([key]);
    }

    fn share(&self, share: &WorkflowShare) {
        self.sync(WorkflowKey::of_share(share));
    }

    /// A token Secret wakes the triggers naming it: their Ready says whether it is usable.
    fn token(&self, secret: &Secret) {
        let (Some(ns), name) = (secret.namespace(), secret.name_any()) else {
            return;
        };
        for trigger in self.triggers_cache.state() {
            let names_it = trigger.spec.webhook.as_ref().map(|w| &w.secret_ref.name) == Some(&name);
            if names_it && trigger.namespace().as_deref() == Some(ns.as_str()) {
                Self::named(&self.triggers, Some(ns.clone()), &trigger.name_any());
            }
        }
    }

    /// A share of a project or trigger wakes what it names.
    fn named<K: Resource<DynamicType = ()>>(
        queue: &mpsc::UnboundedSender<ObjectRef<K>>,
        namespace: Option<String>,
        name: &str,
    ) {
        if let Some(ns) = namespace {
            let _ = queue.send(ObjectRef::new(name).within(&ns));
        }
    }
}

/// A watch's reaction to each change of `K`.
fn on<K: 'static>(
    reactions: &Reactions,
    react: fn(&Reactions, &K),
) -> impl Fn(&K) + Send + 'static {
    let reactions = reactions.clone();
    move |obj| react(&reactions, obj)
}

fn is_ours<R: Resource>(obj: &R) -> bool {
    obj.meta()
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::MANAGED_BY_KEY))
        .map(String::as_str)
        == Some(labels::MANAGED_BY_VALUE)
}

/// Starts a watch of every kind the controller reads; returns the caches, the
/// reactions (for the sweep and the context) and the queues of the controllers.
/// Secrets are watched only with `webhooks` (a receiver is served), and then only
/// those of the webhook-token type.
pub fn start(
    client: &Client,
    watches: &mut Watches,
    webhooks: bool,
) -> (Stores, Reactions, Queues) {
    // The caches other watches' reactions read are made first.
    let (shares, share_writer) = reflector::store::<WorkflowShare>();
    let (workflows, workflow_writer) = reflector::store::<Workflow>();
    let (namespaces, namespace_writer) = reflector::store::<Namespace>();
    let (workflow_syncs, workflow_queue) = mpsc::unbounded_channel();
    let (share_syncs, share_queue) = mpsc::unbounded_channel();
    let (clones, clone_queue) = mpsc::unbounded_channel();
    let (projects_tx, project_queue) = mpsc::unbounded_channel();
    let (triggers_tx, trigger_queue) = mpsc::unbounded_channel();
    let (audience, _) = broadcast::channel(64);
    let directory = Arc::new(DirectoryCache::default());
    let sweeper = Arc::new(Sweeper::default());
    let (projects, project_changes) = controller_source::<Project>(client, {
        let sweeper = sweeper.clone();
        move |event| sweeper.poke_on_delete(event)
    });
    let (triggers, trigger_changes) = controller_source::<Trigger>(client, {
        let sweeper = sweeper.clone();
        move |event| sweeper.poke_on_delete(event)
    });
    let reactions = Reactions {
        workflow_syncs,
        share_syncs,
        clones,
        projects: projects_tx,
        triggers: triggers_tx,
        audience: audience.clone(),
        sweeper,
        decisions: Arc::new(Decisions::default()),
        triggers_cache: triggers.clone(),
        directory: directory.clone(),
        shares: shares.clone(),
        workflows: workflows.clone(),
        namespaces: namespaces.clone(),
    };
    let entries = Arc::new(Entries::default());
    crate::controller::sharing::entry_watch::start(
        client,
        watches,
        entries.clone(),
        on(&reactions, Reactions::entry),
    );
    let webhook_paths = Arc::new(WebhookPaths::default());
    let stores = Stores {
        organizations: Watch::<Organization, Organization>::all(client)
            .significant(wakeups::organization_changed)
            .cache(
                watches,
                on(&reactions, |r, _: &Organization| r.organization()),
            ),
        namespaces,
        cluster_roles: Watch::all(client).labels(labels::WORKSPACE_ROLE).cache(
            watches,
            on(&reactions, |r, _: &ClusterRole| r.workspace_role()),
        ),
        role_bindings: Watch::all(client).cache(watches, on(&reactions, Reactions::role_binding)),
        roles: Watch::all(client)
            .labels(&managed_by())
            .cache(watches, on(&reactions, Reactions::our_grant::<Role>)),
        // Library entries, one per grant: a cache of projections (see `entry_cache`).
        entries,
        workflows: workflows.clone(),
        shares: shares.clone(),
        project_shares: Watch::all(client).cache(
            watches,
            on(&reactions, |r, s: &ProjectShare| {
                Reactions::named(&r.projects, s.namespace(), &s.spec.project_ref.name)
            }),
        ),
        trigger_shares: Watch::all(client).cache(
            watches,
            on(&reactions, |r, s: &TriggerShare| {
                Reactions::named(&r.triggers, s.namespace(), &s.spec.trigger_ref.name)
            }),
        ),
        workflow_runs: Watch::all(client).cache(watches, |_: &WorkflowRun| {}),
        projects,
        triggers,
        webhook_paths: webhook_paths.clone(),
        receiving_webhooks: webhooks,
        // The receiver serves on a standby too, where the trigger controller (and so
        // its cache, which only a running Controller fills) is not started: the
        // receiver has a watch of its own.
        webhook_triggers: match webhooks {
            true => Watch::<Trigger, Trigger>::all(client)
                .projected(|t| t, move |event| webhook_paths.observe(event))
                .cache(watches, |_| {}),
            false => reflector::store().0,
        },
        webhook_tokens: match webhooks {
            true => Watch::all(client)
                .fields(&format!("type={TOKEN_SECRET_TYPE}"))
                .cache(watches, on(&reactions, Reactions::token)),
            false => reflector::store().0,
        },
        directory,
    };
    Watch::all(client).cache_into(
        watches,
        namespace_writer,
        on(&reactions, Reactions::namespace),
    );
    Watch::all(client).cache_into(
        watches,
        workflow_writer,
        on(&reactions, Reactions::workflow),
    );
    Watch::all(client).cache_into(watches, share_writer, on(&reactions, Reactions::share));
    let queues = Queues {
        workflow_syncs: UnboundedReceiverStream::new(workflow_queue).boxed(),
        share_syncs: UnboundedReceiverStream::new(share_queue).boxed(),
        entries: UnboundedReceiverStream::new(clone_queue).boxed(),
        projects: UnboundedReceiverStream::new(project_queue).boxed(),
        project_changes: project_changes.boxed(),
        triggers: UnboundedReceiverStream::new(trigger_queue).boxed(),
        trigger_changes: trigger_changes.boxed(),
        audience,
    };
    (stores, reactions, queues)
}

fn managed_by() -> String {
    format!("{}={}", labels::MANAGED_BY_KEY, labels::MANAGED_BY_VALUE)
}
