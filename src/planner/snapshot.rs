use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};

use crate::resources::{Organization, Workflow, WorkflowShare};

use super::{Directory, WorkflowInputs, WorkflowPlan, plan_workflow};

/// Identifies the unit of planning: one workflow in its owner namespace
/// (whether or not the Workflow object exists).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkflowKey {
    pub namespace: String,
    pub name: String,
}

impl WorkflowKey {
    pub fn of_workflow(wf: &Workflow) -> Option<Self> {
        Some(Self {
            namespace: wf.metadata.namespace.clone()?,
            name: wf.metadata.name.clone()?,
        })
    }
    pub fn of_share(share: &WorkflowShare) -> Option<Self> {
        Some(Self {
            namespace: share.metadata.namespace.clone()?,
            name: share.spec.workflow_ref.name.clone(),
        })
    }
    /// Whether `share` shares this workflow (`of_share` without building a key).
    pub fn is_shared_by(&self, share: &WorkflowShare) -> bool {
        share.spec.workflow_ref.name == self.name
            && share.metadata.namespace.as_deref() == Some(self.namespace.as_str())
    }
}

/// A complete set of objects to plan from: read from YAML files by `plan`,
/// and built the same way in tests.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub organizations: Vec<Organization>,
    pub namespaces: Vec<Namespace>,
    pub cluster_roles: Vec<ClusterRole>,
    pub role_bindings: Vec<RoleBinding>,
    pub workflows: Vec<Workflow>,
    pub shares: Vec<WorkflowShare>,
}

impl Snapshot {
    pub fn directory(&self) -> Directory {
        Directory::build(
            &self.organizations,
            &self.namespaces,
            &self.cluster_roles,
            &self.role_bindings,
        )
    }

    /// Every workflow that exists or is referenced by a share, sorted.
    pub fn workflow_keys(&self) -> BTreeSet<WorkflowKey> {
        self.workflows
            .iter()
            .filter_map(WorkflowKey::of_workflow)
            .chain(self.shares.iter().filter_map(WorkflowKey::of_share))
            .collect()
    }

    pub fn plan(&self, key: &WorkflowKey, directory: &Directory, now: &str) -> WorkflowPlan {
        let workflow = self
            .workflows
            .iter()
            .find(|w| WorkflowKey::of_workflow(w).as_ref() == Some(key));
        let shares: Vec<&WorkflowShare> = self
            .shares
            .iter()
            .filter(|s| WorkflowKey::of_share(s).as_ref() == Some(key))
            .collect();
        // Offline there is no API server to ask whether authors may still share.
        let unauthorized = BTreeSet::new();
        // Nor library entries: offline, a suspended grant's entry is not known to be kept.
        let entries = Default::default();
        plan_workflow(
            directory,
            &WorkflowInputs {
                namespace: &key.namespace,
                name: &key.name,
                workflow,
                shares: &shares,
                entries: &entries,
                unauthorized: &unauthorized,
            },
            now,
        )
    }

    /// Plans every workflow in the snapshot.
    pub fn plan_all(&self, now: &str) -> Vec<WorkflowPlan> {
        let directory = self.directory();
        self.workflow_keys()
            .iter()
            .map(|k| self.plan(k, &directory, now))
            .collect()
    }
}
