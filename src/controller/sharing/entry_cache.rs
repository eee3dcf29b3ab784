//! What the controller keeps of each library entry (SharedWorkflow). An
//! organization has one entry per grant, by far the most objects the controller
//! caches, so this cache is its own: a projection of each entry (its identity, the
//! labels that say whose it is, where it comes from, what the recipient chose, its
//! state and stamp, and a fingerprint of the rest of its spec), keyed by name then
//! namespace, with every namespace and name held once. All entries of one workflow
//! carry one generated name, so a sync finds where its entries are without looking
//! the name up in every namespace (at a workspace joining a large organization,
//! those lookups were a fifth of the controller's work).
//!
//! Against a reflector store of the same projections, this holds a grant in about
//! a third of the memory: no `ObjectMeta` (most of whose fields an entry never
//! uses), and no key repeating the name, namespace, UID and resourceVersion.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

use crate::labels;
use crate::naming;
use crate::planner::WorkflowKey;
use crate::resources::{Access, SharedWorkflow, SharedWorkflowSource, SharedWorkflowSpec};

/// A library entry as the controller caches it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    name: Arc<str>,
    namespace: Arc<str>,
    uid: Option<Box<str>>,
    resource_version: Option<Box<str>>,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// Labelled as managed by workflow-share.
    pub managed: bool,
    /// The source its labels name (namespace, workflow label value), if managed.
    source_labels: Option<(Arc<str>, Arc<str>)>,
    pub source: SharedWorkflowSource,
    pub access: Access,
    /// The recipient's choice, never ours.
    pub enabled: Option<bool>,
    /// Marked suspended (`spec.suspended`).
    pub suspended: bool,
    /// Its state label says what `spec.suspended` does.
    state_label_agrees: bool,
    /// When its grant began (`sharing.workflows.dev/granted-at`).
    pub granted_at: Option<String>,
    /// Of the spec without `enabled`.
    fingerprint: u64,
}

/// The state label of an entry: Active, or Suspended while `spec.suspended` says why.
pub fn state_label(suspended: bool) -> &'static str {
    if suspended { "Suspended" } else { "Active" }
}

impl Entry {
    /// Projects `sw`, taking its namespace and names from `names`.
    fn project(sw: SharedWorkflow, names: &mut Names) -> Self {
        let SharedWorkflow { metadata, spec } = sw;
        let labels = metadata.labels.unwrap_or_default();
        let managed = labels.get(labels::MANAGED_BY_KEY).map(String::as_str)
            == Some(labels::MANAGED_BY_VALUE);
        let source_labels = match (
            managed,
            labels.get(labels::SOURCE_NAMESPACE),
            labels.get(labels::SOURCE_WORKFLOW),
        ) {
            (true, Some(ns), Some(wf)) => Some((names.get(ns), names.get(wf))),
            _ => None,
        };
        let suspended = spec.suspended.is_some();
        Entry {
            name: names.get(metadata.name.as_deref().unwrap_or_default()),
            namespace: names.get(metadata.namespace.as_deref().unwrap_or_default()),
            uid: metadata.uid.map(String::into_boxed_str),
            resource_version: metadata.resource_version.map(String::into_boxed_str),
            deleting: metadata.deletion_timestamp.is_some(),
            managed,
            source_labels,
            state_label_agrees: labels.get(labels::STATE).map(String::as_str)
                == Some(state_label(suspended)),
            granted_at: metadata
                .annotations
                .and_then(|mut a| a.remove(labels::GRANTED_AT)),
            fingerprint: fingerprint(&spec),
            access: spec.access,
            enabled: spec.enabled,
            suspended,
            source: spec.source,
        }
    }

    /// The projection of one object, cached nowhere (an entry read from the API
    /// server where the cache had none yet, and tests of its judges).
    pub fn of(sw: SharedWorkflow) -> Self {
        Self::project(sw, &mut Names::default())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn uid(&self) -> Option<String> {
        self.uid.as_deref().map(String::from)
    }

    pub fn resource_version(&self) -> Option<&str> {
        self.resource_version.as_deref()
    }

    /// Labelled as generated for `key`'s workflow.
    pub fn labelled_for(&self, key: &WorkflowKey) -> bool {
        self.source_labels.as_ref().is_some_and(|(ns, wf)| {
            **ns == *key.namespace && **wf == *naming::label_value(&key.name)
        })
    }

    /// Whether its spec is `desired`, the recipient's `enabled` aside.
    pub fn spec_is(&self, desired: &SharedWorkflowSpec) -> bool {
        self.spec_digest_is(fingerprint(desired))
    }

    /// Like `spec_is`, with the desired spec's `fingerprint` worked out by the caller
    /// (a workflow's entries mostly share one spec), and its state label as desired too.
    pub fn spec_digest_is(&self, digest: u64) -> bool {
        self.fingerprint == digest && self.state_label_agrees
    }
}

/// A digest of everything in the spec but `enabled`.
pub fn fingerprint(spec: &SharedWorkflowSpec) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let ours = SharedWorkflowSpec {
        enabled: None,
        ..spec.clone()
    };
    // Serialization of plain strings and numbers cannot fail; an empty digest
    // would only make the entry look changed and be written once more.
    serde_json::to_string(&ours)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

/// Every namespace and name held once (there are few: workspaces and workflows,
/// against one entry per pair of them).
#[derive(Default)]
struct Names(HashSet<Arc<str>>);

impl Names {
    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(held) = self.0.get(name) {
            return held.clone();
        }
        let held: Arc<str> = Arc::from(name);
        self.0.insert(held.clone());
        held
    }

    /// Forgets the names no entry holds any more.
    fn prune(&mut self) {
        self.0.retain(|n| Arc::strong_count(n) > 1);
    }
}

/// Entries by name, then namespace.
type ByName = HashMap<Arc<str>, HashMap<Arc<str>, Arc<Entry>>>;

/// What a watch event did to the cache, for the reactions.
#[derive(Debug)]
pub enum Change {
    /// An entry changed or appeared: react to it.
    Changed(Arc<Entry>),
    /// An entry went away (its last known state).
    Gone(Arc<Entry>),
}

/// The library entries of the cluster, as the watch shows them.
#[derive(Default)]
pub struct Entries(RwLock<Cache>);

#[derive(Default)]
struct Cache {
    live: ByName,
    names: Names,
    /// During a relist: what it has delivered so far, and what the cache held
    /// when it began less what it relisted unchanged.
    relisting: Option<(ByName, ByName)>,
    /// Relisted and changed meanwhile: reacted to once the relist is done.
    changed: Vec<Arc<Entry>>,
}

fn insert(map: &mut ByName, entry: &Arc<Entry>) -> Option<Arc<Entry>> {
    map.entry(entry.name.clone())
        .or_default()
        .insert(entry.namespace.clone(), entry.clone())
}

fn remove(map: &mut ByName, name: &str, namespace: &str) -> Option<Arc<Entry>> {
    let by_ns = map.get_mut(name)?;
    let gone = by_ns.remove(namespace);
    if by_ns.is_empty() {
        map.remove(name);
    }
    gone
}

impl Entries {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry `name` in `namespace`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Entry>> {
        self.read().live.get(name)?.get(namespace).cloned()
    }

    /// Namespaces holding an entry named `name`.
    pub fn namespaces_of(&self, name: &str) -> Vec<String> {
        self.read()
            .live
            .get(name)
            .map(|by_ns| by_ns.keys().map(|ns| ns.to_string()).collect())
            .unwrap_or_default()
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.read().live.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An entry created or changed.
    pub fn applied(&self, sw: SharedWorkflow) -> Change {
        let mut cache = self.write();
        let entry = Arc::new(Entry::project(sw, &mut cache.names));
        insert(&mut cache.live, &entry);
        Change::Changed(entry)
    }

    /// An entry deleted.
    pub fn deleted(&self, sw: SharedWorkflow) -> Change {
        let mut cache = self.write();
        let entry = Arc::new(Entry::project(sw, &mut cache.names));
        remove(&mut cache.live, &entry.name, &entry.namespace);
        Change::Gone(entry)
    }

    /// A relist begins: the cache keeps serving what it holds until it is done.
    pub fn relist_begins(&self) {
        let mut cache = self.write();
        let before = cache.live.clone();
        cache.relisting = Some((ByName::new(), before));
        cache.changed.clear();
    }

    /// One object of a relist. An entry relisted unchanged is the one held already:
    /// a relist of a converged cluster (an API server restart) then allocates no
    /// second copy of the cache.
    pub fn relisted(&self, sw: SharedWorkflow) {
        let mut guard = self.write();
        let cache = &mut *guard;
        let Some((seen, before)) = cache.relisting.as_mut() else {
            return;
        };
        let meta = &sw.metadata;
        let was = remove(
            before,
            meta.name.as_deref().unwrap_or_default(),
            meta.namespace.as_deref().unwrap_or_default(),
        );
        let unchanged = was.filter(|w| {
            w.resource_version.is_some()
                && w.resource_version.as_deref() == meta.resource_version.as_deref()
        });
        if let Some(held) = unchanged {
            insert(seen, &held);
            return;
        }
        let entry = Arc::new(Entry::project(sw, &mut cache.names));
        insert(seen, &entry);
        cache.changed.push(entry);
    }

    /// The relist is complete: the cache becomes what it delivered, all at once, and
    /// the changes to react to are what changed or went away meanwhile.
    pub fn relist_done(&self) -> Vec<Change> {
        let mut cache = self.write();
        let Some((seen, gone)) = cache.relisting.take() else {
            return Vec::new();
        };
        cache.live = seen;
        cache.names.prune();
        let mut changes: Vec<Change> = std::mem::take(&mut cache.changed)
            .into_iter()
            .map(Change::Changed)
            .collect();
        changes.extend(
            gone.into_values()
                .flat_map(HashMap::into_values)
                .map(Change::Gone),
        );
        changes
    }
}

#[cfg(test)]
pub(crate) mod tests;
