//! Grants that list object names: one Role of a workspace naming objects of one kind,
//! and its RoleBinding. Two lists are kept this way: the organization readers grant
//! (see `readers`) and the names the who-may-share check asks about (see `existing`).
//!
//! Each object's sync says whether its name belongs in the list and waits until the
//! grant in the cluster says so. Syncs arriving while a write is under way are covered
//! by the next one, so a burst (a workspace joining wakes every organization-wide
//! workflow; a GitOps sync creates hundreds of objects) costs a few writes per
//! workspace, not one per object.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::Result;
use crate::planner::{DesiredRbac, Directory};

use super::generated::has_labels;
use super::rbac::{self, RbacTarget};
use crate::controller::Context;

/// Longest wait for the stores to show a grant just written.
const CATCH_UP: Duration = Duration::from_secs(2);

/// One list: where its grant lives, which names it may hold, how it becomes a grant.
pub struct ListSpec<'a> {
    pub target: RbacTarget<'a>,
    /// Whether an object of this name exists: only those are listed, so a namespace
    /// deleted and made again starts empty.
    pub exists: &'a (dyn Fn(&str) -> bool + Sync),
    /// The grant for these names (None: no grant).
    pub plan: &'a (dyn Fn(&Directory, Vec<&str>) -> Option<DesiredRbac> + Sync),
}

/// The lists this controller has synced an object of, by namespace and grant name.
#[derive(Default)]
pub struct Lists(Mutex<HashMap<(String, String), Arc<List>>>);

#[derive(Default)]
struct List {
    names: Mutex<Names>,
    /// Held while writing; what the cluster was last seen to hold.
    writing: tokio::sync::Mutex<Seen>,
}

#[derive(Default)]
struct Names {
    /// None until read from the grant in the store (the first sync after a start).
    listed: Option<BTreeSet<String>>,
    /// Bumped on every change of `listed`.
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
    /// Of each part of the RoleBinding.
    bindings: Vec<Option<String>>,
}

impl PartialEq for Seen {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
            && self.role == other.role
            && self.bindings == other.bindings
            && match (&self.directory, &other.directory) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Lists {
    fn list(&self, namespace: &str, grant: &str) -> Arc<List> {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.entry((namespace.to_string(), grant.to_string()))
            .or_default()
            .clone()
    }

    /// Records whether `name` belongs in the list of `spec` and returns once the
    /// cluster's grant agrees. False when an object we do not own holds the grant's
    /// name (nothing is written then).
    pub async fn converge(
        &self,
        ctx: &Context,
        spec: &ListSpec<'_>,
        name: &str,
        listed: bool,
    ) -> Result<bool> {
        let target = &spec.target;
        let list = self.list(target.namespace, target.name);
        {
            let mut state = list.names.lock().unwrap_or_else(|p| p.into_inner());
            let names = state
                .listed
                .get_or_insert_with(|| listed_in_store(ctx, spec));
            let changed = if listed {
                names.insert(name.to_string())
            } else {
                names.remove(name)
            };
            if changed {
                state.version += 1;
            }
        }
        let mut seen = list.writing.lock().await;
        let directory = ctx.stores.directory();
        let current = list.names.lock().unwrap_or_else(|p| p.into_inner()).version;
        if *seen == observe(ctx, target, current, &directory) {
            return Ok(true);
        }
        // Copied only when there is something to plan: the list as of its version.
        let (version, names) = {
            let state = list.names.lock().unwrap_or_else(|p| p.into_inner());
            (state.version, state.listed.clone().unwrap_or_default())
        };
        let existing = names
            .iter()
            .map(String::as_str)
            .filter(|n| (spec.exists)(n))
            .collect();
        let desired = (spec.plan)(&directory, existing);
        if !rbac::converge_target(ctx, target, desired.as_ref()).await? {
            return Ok(false);
        }
        // Wait for the watch to show what was written: the next sync compares with it.
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        while !rbac::rbac_shown(ctx, target, desired.as_ref()) {
            if tokio::time::Instant::now() >= deadline {
                *seen = Seen::default();
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        *seen = observe(ctx, target, version, &directory);
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
    let (role, bindings) = rbac::stored(ctx, target);
    Seen {
        version,
        directory: Some(directory.clone()),
        role: role.and_then(|r| r.metadata.resource_version.clone()),
        bindings: bindings
            .iter()
            .map(|b| b.metadata.resource_version.clone())
            .collect(),
    }
}

/// The names our grant in the store lists that still exist: where a start picks up.
pub fn listed_in_store(ctx: &Context, spec: &ListSpec<'_>) -> BTreeSet<String> {
    let Some(role) = rbac::stored(ctx, &spec.target).0 else {
        return BTreeSet::new();
    };
    if !has_labels(role.as_ref(), &spec.target.labels) {
        return BTreeSet::new();
    }
    role.rules
        .iter()
        .flatten()
        .flat_map(|r| r.resource_names.iter().flatten())
        .filter(|n| (spec.exists)(n))
        .cloned()
        .collect()
}
