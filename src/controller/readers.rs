//! The organization readers grant of each owner workspace: one Role listing the
//! workspace's organization-readable workflows and one RoleBinding of every member
//! of its organization (see the planner's `plan_organization_readers`).
//!
//! Each workflow's sync decides whether its workflow belongs in the list and waits
//! until the grant in the cluster says so. Syncs arriving while a write is under way
//! are covered by the next one, so a burst of shares (or a workspace joining, which
//! wakes every organization-wide workflow) costs a few writes per workspace, not one
//! per workflow.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::reflector::ObjectRef;

use crate::error::Result;
use crate::labels;
use crate::naming;
use crate::planner::{Directory, plan_organization_readers};

use super::Context;
use super::apply::{self, RbacTarget};

/// Longest wait for the stores to show a grant just written.
const CATCH_UP: Duration = Duration::from_secs(2);

/// The grants of every owner workspace this controller has synced a workflow of.
#[derive(Default)]
pub struct OrganizationReaders(Mutex<HashMap<String, Arc<Workspace>>>);

#[derive(Default)]
struct Workspace {
    readable: Mutex<Readable>,
    /// Held while writing; what the cluster was last seen to hold.
    writing: tokio::sync::Mutex<Seen>,
}

#[derive(Default)]
struct Readable {
    /// None until read from the grant in the store (the first sync after a start).
    workflows: Option<BTreeSet<String>>,
    /// Bumped on every change of `workflows`.
    version: u64,
}

/// Inputs under which the stores last showed the grant as planned: while none of
/// them changes, there is nothing to plan or write.
#[derive(Default)]
struct Seen {
    version: u64,
    /// Kept (not its address) so that a new directory is never taken for it.
    directory: Option<Arc<Directory>>,
    role: Option<String>,
    binding: Option<String>,
}

impl PartialEq for Seen {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
            && self.role == other.role
            && self.binding == other.binding
            && match (&self.directory, &other.directory) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

/// Labels of the grant: ours, for this owner workspace (and no one workflow).
pub fn readers_labels(namespace: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::MANAGED_BY_KEY.to_string(),
            labels::MANAGED_BY_VALUE.to_string(),
        ),
        (labels::SOURCE_NAMESPACE.to_string(), namespace.to_string()),
    ])
}

impl OrganizationReaders {
    fn workspace(&self, namespace: &str) -> Arc<Workspace> {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(namespace.to_string()).or_default().clone()
    }

    /// Records whether `workflow` of `namespace` is organization-readable and returns
    /// once the cluster's grant agrees. False when an object we do not own holds the
    /// grant's name (nothing is written then).
    pub async fn converge(
        &self,
        ctx: &Context,
        namespace: &str,
        workflow: &str,
        readable: bool,
    ) -> Result<bool> {
        let ws = self.workspace(namespace);
        let name = naming::organization_readers_name();
        let target = RbacTarget {
            namespace,
            name: &name,
            labels: readers_labels(namespace),
            owner: None,
        };
        {
            let mut state = ws.readable.lock().unwrap_or_else(|p| p.into_inner());
            let workflows = state
                .workflows
                .get_or_insert_with(|| listed_in_store(ctx, &target));
            let changed = if readable {
                workflows.insert(workflow.to_string())
            } else {
                workflows.remove(workflow)
            };
            if changed {
                state.version += 1;
            }
        }
        let mut seen = ws.writing.lock().await;
        let directory = ctx.stores.directory();
        let current = ws
            .readable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .version;
        if *seen == observe(ctx, &target, current, &directory) {
            return Ok(true);
        }
        // Copied only when there is something to plan: the list as of its version.
        let (version, workflows) = {
            let state = ws.readable.lock().unwrap_or_else(|p| p.into_inner());
            (state.version, state.workflows.clone().unwrap_or_default())
        };
        // Only workflows that exist: a namespace deleted and made again starts empty.
        let existing = workflows.iter().map(String::as_str).filter(|wf| {
            ctx.stores
                .workflows
                .get(&ObjectRef::new(wf).within(namespace))
                .is_some()
        });
        let desired = plan_organization_readers(&directory, namespace, existing);
        if !apply::rbac_for(ctx, &target, desired.as_ref()).await? {
            return Ok(false);
        }
        // Wait for the watch to show what was written: the next sync compares with it.
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        while !apply::rbac_shown(ctx, &target, desired.as_ref()) {
            if tokio::time::Instant::now() >= deadline {
                *seen = Seen::default();
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        *seen = observe(ctx, &target, version, &directory);
        Ok(true)
    }
}

/// The inputs of the grant as they stand.
fn observe(
    ctx: &Context,
    target: &RbacTarget<'_>,
    version: u64,
    directory: &Arc<Directory>,
) -> Seen {
    let (role, binding) = apply::stored(ctx, target);
    Seen {
        version,
        directory: Some(directory.clone()),
        role: role.and_then(|r| r.metadata.resource_version.clone()),
        binding: binding.and_then(|b| b.metadata.resource_version.clone()),
    }
}

/// The workflows our grant in the store lists that still exist: where a start picks up.
fn listed_in_store(ctx: &Context, target: &RbacTarget<'_>) -> BTreeSet<String> {
    let Some(role) = apply::stored(ctx, target).0 else {
        return BTreeSet::new();
    };
    if !apply::has_labels(role.as_ref(), &target.labels) {
        return BTreeSet::new();
    }
    role.rules
        .iter()
        .flatten()
        .flat_map(|r| r.resource_names.iter().flatten())
        .filter(|wf| {
            ctx.stores
                .workflows
                .get(&ObjectRef::new(wf).within(target.namespace))
                .is_some()
        })
        .cloned()
        .collect()
}
