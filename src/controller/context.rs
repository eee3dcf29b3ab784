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
    Organization, ProjectShare, SharedWorkflow, TriggerShare, Workflow, WorkflowRun, WorkflowShare,
};

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
    pub shared_workflows: Store<SharedWorkflow>,
    pub project_shares: Store<ProjectShare>,
    pub trigger_shares: Store<TriggerShare>,
    pub workflow_runs: Store<WorkflowRun>,
}

impl Stores {
    pub fn directory(&self) -> Directory {
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
    }

    /// Every share in the store that references `key`'s workflow.
    pub fn shares_of(&self, key: &WorkflowKey) -> Vec<Arc<WorkflowShare>> {
        self.shares
            .state()
            .into_iter()
            .filter(|s| WorkflowKey::of_share(s).as_ref() == Some(key))
            .collect()
    }
}

/// Names of the Events this process has created (or found existing), so that a
/// notification is attempted once, not once per sync that raced its status write.
#[derive(Default)]
pub struct CreatedEvents(std::sync::Mutex<std::collections::HashSet<(String, String)>>);

impl CreatedEvents {
    /// Bounded: past this many names it starts over (a repeat is then one 409, harmless).
    const LIMIT: usize = 500_000;

    pub fn contains(&self, namespace: &str, name: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(namespace.to_string(), name.to_string()))
    }

    pub fn insert(&self, namespace: &str, name: String) {
        let mut names = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if names.len() >= Self::LIMIT {
            names.clear();
        }
        names.insert((namespace.to_string(), name));
    }

    pub fn forget(&self, namespace: &str, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(namespace.to_string(), name.to_string()));
    }
}

pub struct Context {
    pub client: Client,
    pub created_events: CreatedEvents,
    pub stores: Stores,
    pub metrics: Arc<Metrics>,
    /// Name reported on Events (pod name in a cluster).
    pub instance: String,
    locks: std::sync::Mutex<HashMap<WorkflowKey, Arc<Mutex<()>>>>,
    /// Consecutive failures per object, for backoff.
    pub failures: super::supervise::Failures,
}

impl Context {
    pub fn new(client: Client, stores: Stores, instance: String, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            stores,
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
