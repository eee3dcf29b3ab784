//! What the controller keeps of each library entry (SharedWorkflow). An
//! organization has one entry per grant, by far the most objects the controller
//! caches, so the cache holds a projection of each: its identity, the labels that
//! say whose it is, where it comes from, what the recipient chose, and a
//! fingerprint of the rest of its spec. That is a third of the whole object's
//! memory, and every write decision needs nothing more.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::RwLock;

use kube::api::ObjectMeta;
use kube::core::NamespaceResourceScope;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::labels;
use crate::naming;
use crate::planner::WorkflowKey;
use crate::resources::{Access, SharedWorkflow, SharedWorkflowSource, SharedWorkflowSpec};

/// A library entry as the controller caches it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Name, namespace, UID, resourceVersion and deletionTimestamp only.
    pub metadata: ObjectMeta,
    /// Labelled as managed by workflow-share.
    pub managed: bool,
    /// The source its labels name (namespace, workflow label value), if managed.
    source_labels: Option<(String, String)>,
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

impl From<SharedWorkflow> for Entry {
    fn from(sw: SharedWorkflow) -> Self {
        let SharedWorkflow { metadata, spec } = sw;
        let labels = metadata.labels.unwrap_or_default();
        let suspended = spec.suspended.is_some();
        let state_label_agrees =
            labels.get(labels::STATE).map(String::as_str) == Some(state_label(suspended));
        let granted_at = metadata
            .annotations
            .and_then(|mut a| a.remove(labels::GRANTED_AT));
        let managed = labels.get(labels::MANAGED_BY_KEY).map(String::as_str)
            == Some(labels::MANAGED_BY_VALUE);
        let source_labels = match (
            managed,
            labels.get(labels::SOURCE_NAMESPACE),
            labels.get(labels::SOURCE_WORKFLOW),
        ) {
            (true, Some(ns), Some(wf)) => Some((ns.clone(), wf.clone())),
            _ => None,
        };
        Entry {
            metadata: ObjectMeta {
                name: metadata.name,
                namespace: metadata.namespace,
                uid: metadata.uid,
                resource_version: metadata.resource_version,
                deletion_timestamp: metadata.deletion_timestamp,
                ..Default::default()
            },
            managed,
            source_labels,
            suspended,
            state_label_agrees,
            granted_at,
            fingerprint: fingerprint(&spec),
            access: spec.access,
            enabled: spec.enabled,
            source: spec.source,
        }
    }
}

impl Entry {
    /// Labelled as generated for `key`'s workflow.
    pub fn labelled_for(&self, key: &WorkflowKey) -> bool {
        self.source_labels
            .as_ref()
            .is_some_and(|(ns, wf)| *ns == key.namespace && *wf == naming::label_value(&key.name))
    }

    /// Whether its spec is `desired`, the recipient's `enabled` aside.
    pub fn spec_is(&self, desired: &SharedWorkflowSpec) -> bool {
        self.spec_digest_is(fingerprint(desired))
    }

    /// Like `spec_is`, with the desired spec's `fingerprint` worked out by the caller
    /// (a workflow's entries mostly share one spec), and its state label and
    /// granted-at stamp as desired too.
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

/// The namespaces holding an entry of each name. All entries of one workflow carry
/// one generated name, so a sync finds where its entries are without looking the
/// name up in every namespace of the cluster (at a workspace joining a large
/// organization, those lookups were a fifth of the controller's work).
#[derive(Default)]
pub struct EntryIndex(RwLock<Index>);

#[derive(Default)]
struct Index {
    live: HashMap<String, HashSet<String>>,
    /// Built during a relist, replacing `live` when it completes (as the store does).
    relisting: Option<HashMap<String, HashSet<String>>>,
}

impl EntryIndex {
    /// Follows the watch that fills the entry store, event by event.
    pub fn observe(&self, event: &watcher::Event<Entry>) {
        let mut index = self.0.write().unwrap_or_else(|p| p.into_inner());
        let add = |map: &mut HashMap<String, HashSet<String>>, e: &Entry| {
            if let Some(ns) = e.namespace() {
                map.entry(e.name_any()).or_default().insert(ns);
            }
        };
        match event {
            watcher::Event::Apply(e) => add(&mut index.live, e),
            watcher::Event::Delete(e) => {
                let name = e.name_any();
                if let (Some(ns), Some(set)) = (e.namespace(), index.live.get_mut(&name)) {
                    set.remove(&ns);
                    if set.is_empty() {
                        index.live.remove(&name);
                    }
                }
            }
            watcher::Event::Init => index.relisting = Some(HashMap::new()),
            watcher::Event::InitApply(e) => {
                if let Some(map) = index.relisting.as_mut() {
                    add(map, e);
                }
            }
            watcher::Event::InitDone => {
                if let Some(map) = index.relisting.take() {
                    index.live = map;
                }
            }
        }
    }

    /// Namespaces holding an entry named `name`.
    pub fn namespaces_of(&self, name: &str) -> Vec<String> {
        let index = self.0.read().unwrap_or_else(|p| p.into_inner());
        index
            .live
            .get(name)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Cached and watched as SharedWorkflows are: same group, version and kind.
impl Resource for Entry {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        SharedWorkflow::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        SharedWorkflow::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        SharedWorkflow::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        SharedWorkflow::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::controller::sharing::generated::source_labels;

    fn spec(description: &str, enabled: Option<bool>) -> SharedWorkflowSpec {
        SharedWorkflowSpec {
            source: SharedWorkflowSource {
                namespace: "ventes-été".into(),
                name: "qualification-des-leads".into(),
                uid: "u1".into(),
                generation: 3,
            },
            display_name: "Qualification des leads ✓".into(),
            type_: "Agent".into(),
            description: description.into(),
            shared_by: "zoë".into(),
            access: Access::default(),
            suspended: None,
            enabled,
        }
    }

    fn key() -> WorkflowKey {
        WorkflowKey {
            namespace: "ventes-été".into(),
            name: "qualification-des-leads".into(),
        }
    }

    fn entry(labels: BTreeMap<String, String>, spec: SharedWorkflowSpec) -> Entry {
        let mut sw = SharedWorkflow::new("ventes-été.qualification-des-leads", spec);
        sw.metadata.labels = Some(labels);
        sw.metadata.uid = Some("uid-1".into());
        sw.metadata.annotations = Some([("note".into(), "x".repeat(10_000))].into());
        Entry::from(sw)
    }

    #[test]
    fn keeps_identity_ownership_and_the_recipients_choice() {
        let e = entry(source_labels(&key()), spec("d", Some(true)));
        assert_eq!(e.metadata.uid.as_deref(), Some("uid-1"));
        assert_eq!(e.metadata.annotations, None, "annotations are not kept");
        assert!(e.managed && e.labelled_for(&key()));
        assert_eq!(e.enabled, Some(true));
        assert_eq!(e.source.name, "qualification-des-leads");
    }

    #[test]
    fn ownership_is_by_labels_for_that_very_workflow() {
        assert!(!entry(BTreeMap::new(), spec("d", None)).labelled_for(&key()));
        let other = WorkflowKey {
            namespace: "ventes-été".into(),
            name: "autre".into(),
        };
        assert!(!entry(source_labels(&other), spec("d", None)).labelled_for(&key()));
        // Managed, but without the source labels: ours to clone from, not to change.
        let managed_only = BTreeMap::from([(
            labels::MANAGED_BY_KEY.to_string(),
            labels::MANAGED_BY_VALUE.to_string(),
        )]);
        let e = entry(managed_only, spec("d", None));
        assert!(e.managed && !e.labelled_for(&key()));
    }

    #[test]
    fn the_index_follows_applies_deletes_and_relists() {
        let index = EntryIndex::default();
        let at = |ns: &str| {
            let mut e = entry(source_labels(&key()), spec("d", None));
            e.metadata.namespace = Some(ns.into());
            e
        };
        let name = "ventes-été.qualification-des-leads";
        index.observe(&watcher::Event::Apply(at("support-ü")));
        index.observe(&watcher::Event::Apply(at("finance")));
        index.observe(&watcher::Event::Delete(at("finance")));
        assert_eq!(index.namespaces_of(name), ["support-ü"]);
        // A relist replaces what was known only once it is complete.
        index.observe(&watcher::Event::Init);
        index.observe(&watcher::Event::InitApply(at("juridique")));
        assert_eq!(index.namespaces_of(name), ["support-ü"]);
        index.observe(&watcher::Event::InitDone);
        assert_eq!(index.namespaces_of(name), ["juridique"]);
        assert!(index.namespaces_of("autre").is_empty());
    }

    #[test]
    fn the_spec_compares_without_the_recipients_enabled() {
        let mut labels = source_labels(&key());
        labels.insert(labels::STATE.into(), state_label(false).into());
        let e = entry(labels, spec("même", Some(false)));
        assert!(e.spec_is(&spec("même", None)));
        assert!(!e.spec_is(&spec("autre", None)));
        let mut newer = spec("même", None);
        newer.source.generation = 4;
        assert!(!e.spec_is(&newer));
    }
}
