//! Converges the library entries (SharedWorkflows) of one workflow to its plan,
//! writing only what differs from the cache.
//!
//! Library entries are the bulk of all writes (one per grant), and the API server
//! spends about a third more on an apply that creates than on a create (it parses
//! the apply body as YAML and builds the object through the field manager), so a new
//! entry is created and a changed one is patched, with the fields we no longer set
//! removed explicitly. The entries are ours but for `spec.enabled`, which neither
//! write touches.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt, stream};

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use crate::error::{Error, Result};
use crate::labels;
use crate::metrics::WriteKind;
use crate::naming;
use crate::planner::{DesiredSharedWorkflow, WorkflowKey};
use crate::resources::{SharedWorkflow, SharedWorkflowSpec};

use super::entry_cache::Entry;
use super::generated::*;
use crate::controller::Context;
use crate::runtime::writes::{self, Written};

/// Outcome of converging the SharedWorkflows of one workflow.
#[derive(Default, Debug)]
pub struct SharedWorkflowOutcome {
    /// Recipient workspace -> UID of its SharedWorkflow (created or existing).
    pub uids: BTreeMap<String, String>,
    /// Recipient workspaces where an object we do not own holds the name.
    pub conflicts: BTreeSet<String>,
}

pub async fn converge(
    ctx: &Context,
    key: &WorkflowKey,
    desired: &[DesiredSharedWorkflow],
) -> Result<SharedWorkflowOutcome> {
    let ours = source_labels(key);
    let wanted: BTreeSet<(&str, &str)> = desired
        .iter()
        .map(|d| (d.workspace.as_str(), d.name.as_str()))
        .collect();
    let (mut outcome, writes) = compare(ctx, key, desired);
    for (workspace, state) in write_all(ctx, key, &ours, &writes).await? {
        match state {
            EntryState::Foreign => {
                outcome.conflicts.insert(workspace);
            }
            EntryState::Current(Some(uid)) => {
                outcome.uids.insert(workspace, uid);
            }
            _ => {}
        }
    }

    // Remove what this workflow no longer grants (label-scoped, so never someone
    // else's). Its entries all carry one generated name: look where that name is.
    let entry_name = naming::shared_workflow_name(&key.namespace, &key.name);
    let candidates = ctx
        .stores
        .entries
        .namespaces_of(&entry_name)
        .into_iter()
        .filter(|ns| !wanted.contains(&(ns.as_str(), entry_name.as_str())))
        .filter_map(|ns| ctx.stores.entries.get(&ns, &entry_name));
    for actual in candidates {
        let (ns, name) = (actual.namespace(), actual.name());
        if actual.labelled_for(key)
            && actual.source.namespace == key.namespace
            && actual.source.name == key.name
            && !wanted.contains(&(ns, name))
            && !actual.deleting
        {
            ctx.metrics.write(WriteKind::SharedWorkflow);
            let api: Api<SharedWorkflow> = Api::namespaced(ctx.client.clone(), ns);
            ignore_not_found(
                api.delete(name, &DeleteParams::default()).await,
                "delete SharedWorkflow",
            )?;
        }
    }
    Ok(outcome)
}

/// The entries of `desired` that are to be created or patched.
pub fn to_write(
    ctx: &Context,
    key: &WorkflowKey,
    desired: &[DesiredSharedWorkflow],
) -> Vec<DesiredSharedWorkflow> {
    let (_, writes) = compare(ctx, key, desired);
    writes.into_iter().map(|(d, _)| d.clone()).collect()
}

/// Creates or patches the entries of `desired` that differ from the cache, and
/// removes none (unlike `converge`, `desired` may be a part of the plan).
pub async fn write(
    ctx: &Context,
    key: &WorkflowKey,
    desired: &[DesiredSharedWorkflow],
) -> Result<()> {
    let (_, writes) = compare(ctx, key, desired);
    write_all(ctx, key, &source_labels(key), &writes).await?;
    Ok(())
}

/// Waits (briefly) until the cache shows `desired` as written.
pub async fn shown(ctx: &Context, key: &WorkflowKey, desired: &[DesiredSharedWorkflow]) {
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    while !compare(ctx, key, desired).1.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Writes `writes` (`true`: the entry exists and is patched), side by side: the
/// client bounds what is in flight overall. The futures are built as they are
/// polled: all at once, a large organization's burst held thousands of them.
/// (Indices as items, as with notifications: see `sync`.)
async fn write_all(
    ctx: &Context,
    key: &WorkflowKey,
    ours: &BTreeMap<String, String>,
    writes: &[(&DesiredSharedWorkflow, bool)],
) -> Result<Vec<(String, EntryState)>> {
    stream::iter(0..writes.len())
        .map(|i| {
            let (desired, exists) = writes[i];
            // Built once it holds a request slot (a rare 409 keeps that slot while
            // it waits, briefly, for the cache to show the entry).
            crate::runtime::request_slots::in_slot(
                &ctx.slots,
                crate::runtime::request_slots::Lane::Grants,
                move || write_entry(ctx, key, ours, desired, exists),
            )
        })
        .buffer_unordered(ENTRY_WRITES_IN_FLIGHT)
        .try_collect()
        .await
}

/// The entries as the cache shows them against the plan: what is already there
/// (or held by someone else), and what is to be written (`true`: it exists).
fn compare<'a>(
    ctx: &Context,
    key: &WorkflowKey,
    desired: &'a [DesiredSharedWorkflow],
) -> (
    SharedWorkflowOutcome,
    Vec<(&'a DesiredSharedWorkflow, bool)>,
) {
    let mut outcome = SharedWorkflowOutcome::default();
    let mut writes = Vec::new();
    // Digests of the desired specs: one or two distinct specs for many workspaces.
    let mut digests: Vec<(&SharedWorkflowSpec, u64)> = Vec::new();
    for d in desired {
        let existing = ctx.stores.entries.get(&d.workspace, &d.name);
        let digest = match digests.iter().find(|(spec, _)| **spec == *d.spec) {
            Some((_, digest)) => *digest,
            None => {
                let digest = super::entry_cache::fingerprint(&d.spec);
                digests.push((&d.spec, digest));
                digest
            }
        };
        match entry_state(existing.as_deref(), key, digest, d.granted_at.as_deref()) {
            EntryState::Foreign => {
                outcome.conflicts.insert(d.workspace.clone());
            }
            EntryState::Current(uid) => {
                if let Some(uid) = uid {
                    outcome.uids.insert(d.workspace.clone(), uid);
                }
            }
            EntryState::Missing => writes.push((d, false)),
            EntryState::Differs => writes.push((d, true)),
        }
    }
    (outcome, writes)
}

/// Entries of one workflow written at the same time.
const ENTRY_WRITES_IN_FLIGHT: usize = 16;

/// Where one library entry stands against the plan.
#[derive(Debug, PartialEq)]
enum EntryState {
    /// Not there (as far as the store knows).
    Missing,
    /// An object we do not own holds the name.
    Foreign,
    /// Ours, with another spec.
    Differs,
    /// Ours and as planned (its UID).
    Current(Option<String>),
}

/// `desired` is the digest of the desired spec (see `entry_cache::fingerprint`),
/// `granted_at` the desired stamp.
fn entry_state(
    actual: Option<&Entry>,
    key: &WorkflowKey,
    desired: u64,
    granted_at: Option<&str>,
) -> EntryState {
    match actual {
        None => EntryState::Missing,
        Some(a) if !a.labelled_for(key) => EntryState::Foreign,
        Some(a) if a.spec_digest_is(desired) && a.granted_at.as_deref() == granted_at => {
            EntryState::Current(a.uid())
        }
        Some(_) => EntryState::Differs,
    }
}

/// Our labels on an entry: its source, and its state.
fn entry_labels(
    ours: &BTreeMap<String, String>,
    d: &DesiredSharedWorkflow,
) -> BTreeMap<String, String> {
    let mut labels = ours.clone();
    labels.insert(
        labels::STATE.to_string(),
        super::entry_cache::state_label(!d.is_active()).to_string(),
    );
    labels
}

/// How long a create refused because the name is taken waits for the store to show
/// the object (our own entry from a sync whose watch event is still on its way,
/// usually): then it is judged like any other.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// Creates (unless it `exists`) or patches one entry; returns its workspace and
/// what it is now.
async fn write_entry(
    ctx: &Context,
    key: &WorkflowKey,
    ours: &BTreeMap<String, String>,
    d: &DesiredSharedWorkflow,
    exists: bool,
) -> Result<(String, EntryState)> {
    let api: Api<SharedWorkflow> = Api::namespaced(ctx.client.clone(), &d.workspace);
    if !exists {
        {
            let entry = SharedWorkflow {
                metadata: kube::api::ObjectMeta {
                    name: Some(d.name.clone()),
                    namespace: Some(d.workspace.clone()),
                    labels: Some(entry_labels(ours, d)),
                    annotations: d
                        .granted_at
                        .as_ref()
                        .map(|at| [(labels::GRANTED_AT.to_string(), at.clone())].into()),
                    ..Default::default()
                },
                spec: (*d.spec).clone(),
            };
            ctx.metrics.write(WriteKind::SharedWorkflow);
            match writes::create::<_, Written<SharedWorkflow>>(
                &ctx.client,
                &api,
                &create_params(),
                &entry,
            )
            .await
            {
                Ok(created) => {
                    ctx.own_writes.wrote(&created);
                    return Ok((d.workspace.clone(), EntryState::Current(created.uid())));
                }
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    let seen = wait_for_entry(ctx, &d.workspace, &d.name).await.ok_or(
                        Error::NotYetVisible("SharedWorkflow exists but is not in the cache yet"),
                    )?;
                    let digest = super::entry_cache::fingerprint(&d.spec);
                    match entry_state(Some(&seen), key, digest, d.granted_at.as_deref()) {
                        EntryState::Differs => {}
                        state => return Ok((d.workspace.clone(), state)),
                    }
                }
                Err(e) => return Err(Error::kube("create SharedWorkflow")(e)),
            }
        }
    }
    let mut patch = json!({
        "metadata": { "labels": entry_labels(ours, d) },
        "spec": spec_patch(&d.spec)?,
    });
    if let Some(at) = &d.granted_at {
        patch["metadata"]["annotations"] = json!({ labels::GRANTED_AT: at });
    }
    ctx.metrics.write(WriteKind::SharedWorkflow);
    let patched: Written<SharedWorkflow> = writes::patch(
        &ctx.client,
        &api,
        &d.name,
        &PatchParams {
            field_manager: Some(labels::FIELD_MANAGER.to_string()),
            ..Default::default()
        },
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Error::kube("patch SharedWorkflow"))?;
    ctx.own_writes.wrote(&patched);
    Ok((d.workspace.clone(), EntryState::Current(patched.uid())))
}

async fn wait_for_entry(
    ctx: &Context,
    workspace: &str,
    name: &str,
) -> Option<std::sync::Arc<Entry>> {
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        if let Some(seen) = ctx.stores.entries.get(workspace, name) {
            return Some(seen);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The JSON merge patch that makes an entry's spec `desired` whatever it was (the
/// cache keeps only a fingerprint of it): every field set, and the optional ones
/// `desired` leaves out set to null, which removes them. `enabled` is the
/// recipient's and is left alone.
fn spec_patch(desired: &SharedWorkflowSpec) -> Result<serde_json::Value> {
    /// Fields serialized only when not empty: (parent object, field).
    const OPTIONAL: [(Option<&str>, &str); 5] = [
        (None, "type"),
        (None, "description"),
        (None, "sharedBy"),
        (None, "suspended"),
        (Some("source"), "uid"),
    ];
    let mut patch = serde_json::to_value(SharedWorkflowSpec {
        enabled: None,
        ..desired.clone()
    })
    .map_err(|source| Error::Serialize {
        action: "encode SharedWorkflow spec",
        source,
    })?;
    for (parent, field) in OPTIONAL {
        let object = match parent {
            None => patch.as_object_mut(),
            Some(p) => patch.get_mut(p).and_then(|v| v.as_object_mut()),
        };
        if let Some(object) = object {
            object.entry(field).or_insert(serde_json::Value::Null);
        }
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::sharing::entry_cache::tests::spec;
    use serde_json::json;

    /// Every field of the spec but `enabled`, as dotted paths.
    fn fields(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
        if let Some(object) = value.as_object() {
            for (k, v) in object {
                let path = format!("{prefix}{k}");
                if v.is_object() {
                    fields(v, &format!("{path}."), out);
                } else {
                    out.insert(path);
                }
            }
        }
    }

    #[test]
    fn a_patch_sets_every_field_and_removes_the_ones_left_out() {
        let mut suspended = spec("texte", Some(true));
        suspended.suspended = Some("WorkflowArchived".into());
        let full = serde_json::to_value(suspended).expect("encodes");
        let mut every = BTreeSet::new();
        fields(&full, "", &mut every);
        every.remove("enabled");
        let patch = spec_patch(&SharedWorkflowSpec::default()).expect("encodes");
        let mut patched = BTreeSet::new();
        fields(&patch, "", &mut patched);
        assert_eq!(
            patched, every,
            "a field added to the spec must be patched too"
        );
        assert_eq!(patch["description"], json!(null));
        assert_eq!(patch["suspended"], json!(null), "restoring removes it");
        assert_eq!(patch["source"]["uid"], json!(null));
    }

    #[test]
    fn a_patch_never_touches_the_recipients_enabled() {
        let patch = spec_patch(&spec("même", Some(true))).expect("encodes");
        assert!(patch.get("enabled").is_none());
        assert_eq!(patch["description"], json!("même"));
        assert_eq!(patch["source"]["generation"], json!(3));
    }

    #[test]
    fn entries_are_judged_by_owner_labels_then_spec_state_and_stamp() {
        let key = WorkflowKey {
            namespace: "ventes-été".into(),
            name: "qualification-des-leads".into(),
        };
        let stamp = "2026-12-05T10:00:00.000000Z";
        let entry = |labels: BTreeMap<String, String>, spec: SharedWorkflowSpec| {
            let mut sw = SharedWorkflow::new("ventes-été.qualification-des-leads", spec);
            sw.metadata.labels = Some(labels);
            sw.metadata.uid = Some("uid-1".into());
            sw.metadata.annotations =
                Some([(labels::GRANTED_AT.to_string(), stamp.to_string())].into());
            Entry::of(sw)
        };
        let labelled = |state: &str| {
            let mut l = source_labels(&key);
            l.insert(labels::STATE.to_string(), state.to_string());
            l
        };
        let ours = labelled("Active");
        let desired_spec = spec("d", None);
        let desired = crate::controller::sharing::entry_cache::fingerprint(&desired_spec);
        let judge = |e: Option<&Entry>, at: Option<&str>| entry_state(e, &key, desired, at);
        let at = Some(stamp);
        assert_eq!(judge(None, at), EntryState::Missing);
        assert_eq!(
            judge(Some(&entry(BTreeMap::new(), desired_spec.clone())), at),
            EntryState::Foreign
        );
        assert_eq!(
            judge(Some(&entry(ours.clone(), spec("d", Some(false)))), at),
            EntryState::Current(Some("uid-1".into())),
            "the recipient's enabled is not a difference"
        );
        let differs = [
            ("another spec", entry(ours.clone(), spec("autre", None)), at),
            ("another stamp", entry(ours, desired_spec.clone()), None),
            (
                "a state label that says otherwise",
                entry(labelled("Suspended"), desired_spec.clone()),
                at,
            ),
            (
                "no state label",
                entry(source_labels(&key), desired_spec),
                at,
            ),
        ];
        for (case, e, at) in differs {
            assert_eq!(judge(Some(&e), at), EntryState::Differs, "{case}");
        }
    }
}
