//! Shared state of the controller: client, reflector stores and per-workflow locks.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::Client;
use kube::runtime::reflector::Store;
use tokio::sync::Mutex;

use crate::metrics::Metrics;
use crate::planner::{Directory, WorkflowKey};
use crate::resources::{
    Organization, Project, ProjectShare, Trigger, TriggerShare, Workflow, WorkflowRun,
    WorkflowShare,
};

/// The controller's two clients. Watches and the leader Lease use their own
/// connections; everything the reconcilers send shares a bounded number of requests
/// in flight, so a burst (a workspace joining a large organization, a relist) queues
/// in the controller instead of opening hundreds of connections to the API server.
/// Grants are sent before bookkeeping (see `request_slots`).
#[derive(Clone)]
pub struct Clients {
    pub watches: Client,
    pub requests: Client,
    /// The requests client's slots, for bookkeeping to take before it builds a request.
    pub slots: Arc<crate::runtime::request_slots::Slots>,
    /// Most workflow syncs at once (0: no bound).
    pub max_concurrent_syncs: u16,
    /// Most requests in flight (the slots' number).
    pub max_in_flight: usize,
}

impl Clients {
    pub fn new(config: kube::Config, max_in_flight: usize) -> Result<Self, kube::Error> {
        let watches = Client::try_from(config.clone())?;
        let slots = crate::runtime::request_slots::Slots::new(max_in_flight);
        let requests = kube::client::ClientBuilder::try_from(config)?
            // The kube client's own stack cannot be cloned; a buffer in front of it can.
            .with_layer(&tower::buffer::BufferLayer::new(max_in_flight))
            .with_layer(&crate::runtime::request_slots::LimitLayer::new(
                slots.clone(),
            ))
            .build();
        Ok(Self {
            watches,
            requests,
            slots,
            max_concurrent_syncs: 0,
            max_in_flight,
        })
    }
}

/// Read-only caches of everything the planner looks at.
#[derive(Clone)]
pub struct Stores {
    pub organizations: Store<Organization>,
    pub namespaces: Store<Namespace>,
    pub cluster_roles: Store<ClusterRole>,
    pub role_bindings: Store<RoleBinding>,
    pub roles: Store<Role>,
    pub workflows: Store<Workflow>,
    pub shares: Store<WorkflowShare>,
    /// Library entries, as projections in a cache of their own (see `entry_cache`).
    pub entries: Arc<crate::controller::sharing::entry_cache::Entries>,
    pub project_shares: Store<ProjectShare>,
    pub trigger_shares: Store<TriggerShare>,
    pub workflow_runs: Store<WorkflowRun>,
    pub projects: Store<Project>,
    pub triggers: Store<Trigger>,
    /// Triggers as the webhook receiver sees them (filled on a standby too).
    pub webhook_triggers: Store<Trigger>,
    /// Which trigger each receiver path is (see `webhooks::WebhookPaths`).
    pub webhook_paths: Arc<crate::controller::webhooks::WebhookPaths>,
    /// Whether this replica runs the webhook receiver (and so fills the two above).
    pub receiving_webhooks: bool,
    /// Secrets of the webhook-token type only (a field selector: no other Secret is
    /// ever requested).
    pub webhook_tokens: Store<k8s_openapi::api::core::v1::Secret>,
    /// The directory built from the stores above, until one of them changes.
    pub directory: Arc<DirectoryCache>,
}

/// The last directory built, kept until organizations, namespaces, workspace roles
/// or membership change: every sync plans with it, and building it reads every
/// RoleBinding of the cluster.
#[derive(Default)]
pub struct DirectoryCache {
    generation: std::sync::atomic::AtomicU64,
    built: std::sync::Mutex<Option<(u64, Arc<Directory>)>>,
}

impl DirectoryCache {
    /// Called after a store it is built from has changed.
    pub fn invalidate(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.built.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn get_or_build(&self, build: impl FnOnce() -> Directory) -> Arc<Directory> {
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        if let Some((g, built)) = &*self.built.lock().unwrap_or_else(|p| p.into_inner())
            && *g == generation
        {
            return built.clone();
        }
        let built = Arc::new(build());
        // Kept only if nothing changed while it was built: it may have read a store
        // before the change.
        let mut slot = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
            *slot = Some((generation, built.clone()));
        }
        built
    }
}

impl Stores {
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.get_or_build(|| {
            let orgs = self.organizations.state();
            let namespaces = self.namespaces.state();
            let cluster_roles = self.cluster_roles.state();
            let role_bindings = self.role_bindings.state();
            Directory::build(
                orgs.iter().map(|o| o.as_ref()),
                namespaces.iter().map(|n| n.as_ref()),
                cluster_roles.iter().map(|c| c.as_ref()),
                role_bindings.iter().map(|r| r.as_ref()),
            )
        })
    }

    /// Every share in the store that references `key`'s workflow.
    pub fn shares_of(&self, key: &WorkflowKey) -> Vec<Arc<WorkflowShare>> {
        // Runs several times per sync over every share: no key built per share.
        // Collected from references: collecting the store's copy in place would keep
        // its capacity (every share) in each sync's list.
        self.shares
            .state()
            .iter()
            .filter(|s| key.is_shared_by(s))
            .cloned()
            .collect()
    }
}

/// The Events this process has created (or found existing), so that a
/// notification is attempted once, not once per sync that raced its status write.
/// Kept as 128-bit keyed hashes of namespace and name: an organization's burst
/// creates one per grant, and a hash is a sixth of a name's memory. (The keys are
/// random per process, so nobody can choose names that collide.)
pub struct CreatedEvents {
    keys: [std::hash::RandomState; 2],
    seen: std::sync::Mutex<std::collections::HashSet<u128>>,
}

impl Default for CreatedEvents {
    fn default() -> Self {
        Self {
            keys: [std::hash::RandomState::new(), std::hash::RandomState::new()],
            seen: Default::default(),
        }
    }
}

impl CreatedEvents {
    /// Bounded: past this many it starts over (a repeat is then one 409, harmless).
    const LIMIT: usize = 500_000;

    fn seen(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<u128>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn hash(&self, namespace: &str, name: &str) -> u128 {
        use std::hash::BuildHasher;
        let [high, low] = &self.keys;
        (u128::from(high.hash_one((namespace, name))) << 64)
            | u128::from(low.hash_one((namespace, name)))
    }

    pub fn contains(&self, namespace: &str, name: &str) -> bool {
        let hash = self.hash(namespace, name);
        self.seen().contains(&hash)
    }

    pub fn insert(&self, namespace: &str, name: &str) {
        let hash = self.hash(namespace, name);
        let mut seen = self.seen();
        if seen.len() >= Self::LIMIT {
            // Released, not only emptied: a burst's set is not kept at its peak.
            *seen = Default::default();
        }
        seen.insert(hash);
    }

    pub fn forget(&self, namespace: &str, name: &str) {
        let hash = self.hash(namespace, name);
        self.seen().remove(&hash);
    }
}

pub struct Context {
    pub client: Client,
    /// The client's request slots (see `request_slots`).
    pub slots: Arc<crate::runtime::request_slots::Slots>,
    /// Most workflow syncs at once (0: no bound).
    pub max_concurrent_syncs: u16,
    /// Turns for a sync's notes (notifications, reports, statuses), each written
    /// from a whole plan: as many as requests in flight. More would not write
    /// faster, only hold their plans (the bulk of a burst's memory) while they
    /// queue for a request slot behind the grants (see `sync`).
    pub plans: tokio::sync::Semaphore,
    /// Our last status write per object (see `status_writes::WrittenStatuses`).
    pub written_statuses: crate::runtime::status_writes::WrittenStatuses,
    /// The API server's recent "allowed" answers (see `authorize::Decisions`).
    pub decisions: Arc<crate::controller::sharing::authorize::Decisions>,
    pub created_events: CreatedEvents,
    /// What our writes produced, so their watch events wake nothing (see `own_writes`).
    pub own_writes: Arc<crate::runtime::own_writes::OwnWrites>,
    pub stores: Stores,
    /// The organization readers grant of each owner workspace (see `readers`).
    pub readers: crate::controller::sharing::readers::OrganizationReaders,
    /// The names of the objects that exist, for the who-may-share check (see `existing`).
    pub existing: crate::controller::sharing::existing::ExistingNames,
    pub metrics: Arc<Metrics>,
    /// Name reported on Events (pod name in a cluster).
    pub instance: String,
    locks: std::sync::Mutex<HashMap<WorkflowKey, Arc<Mutex<()>>>>,
    /// Consecutive failures per object, for backoff.
    pub failures: crate::runtime::supervise::Failures,
}

impl Context {
    pub fn new(
        clients: &Clients,
        stores: Stores,
        decisions: Arc<crate::controller::sharing::authorize::Decisions>,
        own_writes: Arc<crate::runtime::own_writes::OwnWrites>,
        instance: String,
        namespace: String,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            client: clients.requests.clone(),
            slots: clients.slots.clone(),
            max_concurrent_syncs: clients.max_concurrent_syncs,
            plans: tokio::sync::Semaphore::new(clients.max_in_flight.max(1)),
            decisions,
            own_writes,
            written_statuses: Default::default(),
            stores,
            readers: Default::default(),
            existing: crate::controller::sharing::existing::ExistingNames::new(namespace),
            metrics,
            instance,
            created_events: Default::default(),
            locks: Default::default(),
            failures: Default::default(),
        }
    }

    /// One sync of a workflow at a time, whichever controller asked for it.
    pub fn lock_for(&self, key: &WorkflowKey) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(key.clone()).or_default().clone()
    }
}

/// Options of `workflow-share controller`.
#[derive(Clone, Debug)]
pub struct Options {
    pub instance: String,
    /// Address of /metrics, /healthz and /readyz.
    pub metrics_addr: std::net::SocketAddr,
    /// Leader election; None runs without it (a single replica).
    pub lease: Option<crate::runtime::leader::LeaseOptions>,
    /// The controller's own namespace: the identity the who-may-share check asks
    /// about existing objects lives there (see `existing`).
    pub namespace: String,
    /// Address of the webhook receiver; None serves none (and no Secret is watched).
    pub webhook_addr: Option<std::net::SocketAddr>,
}

#[cfg(test)]
mod tests {
    use super::CreatedEvents;

    #[test]
    fn a_created_event_is_known_by_namespace_and_name_until_forgotten() {
        let created = CreatedEvents::default();
        created.insert("équipe-données", "wf.notified.1");
        assert!(created.contains("équipe-données", "wf.notified.1"));
        assert!(!created.contains("équipe-données", "wf.notified.2"));
        assert!(
            !created.contains("sales", "wf.notified.1"),
            "another namespace"
        );
        // The pair is hashed whole: moving a character across the boundary differs.
        created.insert("ab", "c");
        assert!(!created.contains("a", "bc"));
        created.forget("équipe-données", "wf.notified.1");
        assert!(!created.contains("équipe-données", "wf.notified.1"));
        assert!(created.contains("ab", "c"));
    }
}
