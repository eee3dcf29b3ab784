use std::collections::BTreeMap;

use super::*;
use crate::controller::sharing::generated::source_labels;

/// A library entry's spec with non-ASCII texts (the other tests of entries use it too).
pub(crate) fn spec(description: &str, enabled: Option<bool>) -> SharedWorkflowSpec {
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

const NAME: &str = "ventes-été.qualification-des-leads";

fn labelled() -> BTreeMap<String, String> {
    let mut labels = source_labels(&key());
    labels.insert(labels::STATE.into(), state_label(false).into());
    labels
}

fn object(
    ns: &str,
    version: &str,
    labels: BTreeMap<String, String>,
    spec: SharedWorkflowSpec,
) -> SharedWorkflow {
    let mut sw = SharedWorkflow::new(NAME, spec);
    sw.metadata.namespace = Some(ns.into());
    sw.metadata.labels = Some(labels);
    sw.metadata.uid = Some(format!("uid-{ns}"));
    sw.metadata.resource_version = Some(version.into());
    sw.metadata.annotations = Some(
        [
            ("note".into(), "x".repeat(10_000)),
            (
                labels::GRANTED_AT.into(),
                "2026-12-05T10:00:00.000000Z".into(),
            ),
        ]
        .into(),
    );
    sw
}

fn entry(labels: BTreeMap<String, String>, spec: SharedWorkflowSpec) -> Arc<Entry> {
    let entries = Entries::default();
    entries.applied(object("support-ü", "1", labels, spec));
    entries.get("support-ü", NAME).expect("cached")
}

#[test]
fn keeps_identity_ownership_the_recipients_choice_and_the_stamp() {
    let e = entry(labelled(), spec("d", Some(true)));
    assert_eq!(e.uid().as_deref(), Some("uid-support-ü"));
    assert_eq!((e.name(), e.namespace()), (NAME, "support-ü"));
    assert!(e.managed && e.labelled_for(&key()) && !e.deleting && !e.suspended);
    assert_eq!(e.enabled, Some(true));
    assert_eq!(e.source.name, "qualification-des-leads");
    assert_eq!(e.granted_at.as_deref(), Some("2026-12-05T10:00:00.000000Z"));
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
fn the_cache_follows_applies_deletes_and_relists_and_says_what_changed() {
    let entries = Entries::default();
    let at = |ns: &str, version: &str| object(ns, version, labelled(), spec("d", None));
    let names = |changes: Vec<Change>| -> Vec<(String, bool)> {
        let mut out: Vec<(String, bool)> = changes
            .iter()
            .map(|c| {
                (
                    c.entry().namespace().to_string(),
                    matches!(c, Change::Gone(_)),
                )
            })
            .collect();
        out.sort();
        out
    };
    entries.applied(at("support-ü", "1"));
    entries.applied(at("finance", "1"));
    entries.applied(at("juridique", "1"));
    entries.deleted(at("finance", "1"));
    let mut seen = entries.namespaces_of(NAME);
    seen.sort();
    assert_eq!(seen, ["juridique", "support-ü"]);
    assert_eq!(entries.len(), 2);

    // A relist replaces what was known only once it is complete, and reports what
    // changed meanwhile (juridique, at a new version) and what went (support-ü),
    // not what is unchanged (finance was deleted before, and is relisted: new).
    entries.relist_begins();
    entries.relisted(at("juridique", "2"));
    entries.relisted(at("finance", "1"));
    assert_eq!(entries.len(), 2, "still the cache before the relist");
    let changes = entries.relist_done();
    assert_eq!(
        names(changes),
        [
            ("finance".to_string(), false),
            ("juridique".to_string(), false),
            ("support-ü".to_string(), true)
        ]
    );
    let mut seen = entries.namespaces_of(NAME);
    seen.sort();
    assert_eq!(seen, ["finance", "juridique"]);
    assert!(entries.get("support-ü", NAME).is_none());
    assert!(entries.namespaces_of("autre").is_empty());

    // Relisted unchanged: nothing to react to, and the entry held is kept (no copy).
    let held = entries.get("juridique", NAME).unwrap();
    entries.relist_begins();
    entries.relisted(at("juridique", "2"));
    entries.relisted(at("finance", "1"));
    assert!(entries.relist_done().is_empty());
    assert!(Arc::ptr_eq(&held, &entries.get("juridique", NAME).unwrap()));
}

#[test]
fn namespaces_and_names_are_held_once() {
    let entries = Entries::default();
    for version in ["1", "2"] {
        entries.applied(object("support-ü", version, labelled(), spec("d", None)));
    }
    entries.applied(object("finance", "1", labelled(), spec("d", None)));
    let (a, b) = (
        entries.get("support-ü", NAME).expect("a"),
        entries.get("finance", NAME).expect("b"),
    );
    assert!(
        Arc::ptr_eq(&a.name, &b.name),
        "one name for all entries of a workflow"
    );
    let again = entries.get("support-ü", NAME).expect("a");
    assert!(Arc::ptr_eq(&a.namespace, &again.namespace));
}

#[test]
fn the_spec_compares_without_the_recipients_enabled() {
    let e = entry(labelled(), spec("même", Some(false)));
    assert!(e.spec_is(&spec("même", None)));
    assert!(!e.spec_is(&spec("autre", None)));
    let mut newer = spec("même", None);
    newer.source.generation = 4;
    assert!(!e.spec_is(&newer));
    // The state label must say what the spec does.
    let unlabelled = entry(source_labels(&key()), spec("même", None));
    assert!(!unlabelled.spec_is(&spec("même", None)));
}
