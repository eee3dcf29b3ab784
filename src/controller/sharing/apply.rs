//! Converges generated objects (SharedWorkflows, Role, RoleBinding) to a plan,
//! writing only what differs from the reflector stores.
//!
//! Roles and RoleBindings are written with server-side apply. Library entries are
//! the bulk of all writes (one per grant), and the API server spends about a third
//! more on an apply that creates than on a create (it parses the apply body as YAML
//! and builds the object through the field manager), so a new entry is created and a
//! changed one is patched, with the fields we no longer set removed explicitly. The
//! entries are ours but for `spec.enabled`, which neither write touches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::error::{Error, Result};
use crate::labels;
use crate::metrics::WriteKind;
use crate::naming;
use crate::planner::{DesiredRbac, DesiredSharedWorkflow, WorkflowKey};
use crate::resources::{GROUP, SharedWorkflow, SharedWorkflowSpec};

use super::entries::Entry;
use crate::controller::Context;
use crate::runtime::writes::{self, Written};

/// Labels on every object generated for one source workflow.
pub fn source_labels(key: &WorkflowKey) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::MANAGED_BY_KEY.to_string(),
            labels::MANAGED_BY_VALUE.to_string(),
        ),
        (labels::SOURCE_NAMESPACE.to_string(), key.namespace.clone()),
        (
            labels::SOURCE_WORKFLOW.to_string(),
            naming::label_value(&key.name),
        ),
    ])
}

/// An owner reference that has the garbage collector delete our object with `owner`
/// without blocking the owner's deletion. Without blockOwnerDeletion the controller
/// needs no `update` on the owner's finalizers subresource (clusters that enable
/// the OwnerReferencesPermissionEnforcement admission plugin would ask for it).
pub fn deleted_with<K: Resource<DynamicType = ()>>(owner: &K) -> Option<OwnerReference> {
    owner.controller_owner_ref(&()).map(|mut o| {
        o.block_owner_deletion = None;
        o
    })
}

/// Whether `meta` carries all of `wanted` labels (the object is ours, for this source).
pub(super) fn has_labels<R: Resource>(obj: &R, wanted: &BTreeMap<String, String>) -> bool {
    let have = obj.meta().labels.as_ref();
    wanted
        .iter()
        .all(|(k, v)| have.and_then(|l| l.get(k)) == Some(v))
}

fn params() -> PatchParams {
    PatchParams::apply(labels::FIELD_MANAGER).force()
}

/// Creates carry the same field manager as our applies.
fn create_params() -> PostParams {
    PostParams {
        field_manager: Some(labels::FIELD_MANAGER.to_string()),
        ..Default::default()
    }
}

/// Outcome of converging the SharedWorkflows of one workflow.
#[derive(Default, Debug)]
pub struct SharedWorkflowOutcome {
    /// Recipient workspace -> UID of its SharedWorkflow (created or existing).
    pub uids: BTreeMap<String, String>,
    /// Recipient workspaces where an object we do not own holds the name.
    pub conflicts: BTreeSet<String>,
}

pub async fn shared_workflows(
    ctx: &Context,
    key: &WorkflowKey,
    desired: &[DesiredSharedWorkflow],
) -> Result<SharedWorkflowOutcome> {
    let ours = source_labels(key);
    let mut outcome = SharedWorkflowOutcome::default();
    let wanted: BTreeSet<(&str, &str)> = desired
        .iter()
        .map(|d| (d.workspace.as_str(), d.name.as_str()))
        .collect();

    let mut writes = Vec::new();
    // Digests of the desired specs: one or two distinct specs for many workspaces.
    let mut digests: Vec<(&SharedWorkflowSpec, u64)> = Vec::new();
    for d in desired {
        let existing = ctx
            .stores
            .shared_workflows
            .get(&ObjectRef::new(&d.name).within(&d.workspace));
        let digest = match digests.iter().find(|(spec, _)| *spec == &d.spec) {
            Some((_, digest)) => *digest,
            None => {
                let digest = super::entries::fingerprint(&d.spec);
                digests.push((&d.spec, digest));
                digest
            }
        };
        match entry_state(existing.as_deref(), key, digest) {
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
    // A workflow shared with many workspaces writes its entries side by side; the
    // client bounds what is in flight overall. The futures are built as they are
    // polled: all at once, a large organization's burst held thousands of them.
    // (Indices as items, as with notifications: see `sync`.)
    let written: Vec<(String, EntryState)> = stream::iter(0..writes.len())
        .map(|i| {
            let ours = &ours;
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
        .await?;
    for (workspace, state) in written {
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
        .entry_index
        .namespaces_of(&entry_name)
        .into_iter()
        .filter(|ns| !wanted.contains(&(ns.as_str(), entry_name.as_str())))
        .filter_map(|ns| {
            ctx.stores
                .shared_workflows
                .get(&ObjectRef::new(&entry_name).within(&ns))
        });
    for actual in candidates {
        let (Some(ns), name) = (actual.namespace(), actual.name_any()) else {
            continue;
        };
        if actual.labelled_for(key)
            && actual.source.namespace == key.namespace
            && actual.source.name == key.name
            && !wanted.contains(&(ns.as_str(), name.as_str()))
            && actual.metadata.deletion_timestamp.is_none()
        {
            ctx.metrics.write(WriteKind::SharedWorkflow);
            let api: Api<SharedWorkflow> = Api::namespaced(ctx.client.clone(), &ns);
            ignore_not_found(
                api.delete(&name, &DeleteParams::default()).await,
                "delete SharedWorkflow",
            )?;
        }
    }
    Ok(outcome)
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

/// `desired` is the digest of the desired spec (see `entries::fingerprint`).
fn entry_state(actual: Option<&Entry>, key: &WorkflowKey, desired: u64) -> EntryState {
    match actual {
        None => EntryState::Missing,
        Some(a) if !a.labelled_for(key) => EntryState::Foreign,
        Some(a) if a.spec_digest_is(desired) => EntryState::Current(a.uid()),
        Some(_) => EntryState::Differs,
    }
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
                    labels: Some(ours.clone()),
                    ..Default::default()
                },
                spec: d.spec.clone(),
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
                    match entry_state(Some(&seen), key, super::entries::fingerprint(&d.spec)) {
                        EntryState::Differs => {}
                        state => return Ok((d.workspace.clone(), state)),
                    }
                }
                Err(e) => return Err(Error::kube("create SharedWorkflow")(e)),
            }
        }
    }
    let patch = json!({
        "metadata": { "labels": ours },
        "spec": spec_patch(&d.spec)?,
    });
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
    let key = ObjectRef::new(name).within(workspace);
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        if let Some(seen) = ctx.stores.shared_workflows.get(&key) {
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
    const OPTIONAL: [(Option<&str>, &str); 4] = [
        (None, "type"),
        (None, "description"),
        (None, "sharedBy"),
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

/// Sets `enabled: true` on a re-created entry as an Update (not part of our applied
/// configuration), so the field stays the recipient's to change and our later
/// applies never remove it.
pub async fn restore_enabled(ctx: &Context, workspace: &str, name: &str) -> Result<()> {
    let api: Api<SharedWorkflow> = Api::namespaced(ctx.client.clone(), workspace);
    let params = PatchParams {
        field_manager: Some(labels::FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    ctx.metrics.write(WriteKind::SharedWorkflow);
    let patched = api
        .patch(
            name,
            &params,
            &Patch::Merge(json!({ "spec": { "enabled": true } })),
        )
        .await
        .map_err(Error::kube("restore SharedWorkflow enabled"))?;
    ctx.own_writes.wrote(&patched);
    Ok(())
}

fn desired_role(rbac: &DesiredRbac) -> Vec<PolicyRule> {
    vec![PolicyRule {
        api_groups: Some(vec![GROUP.to_string()]),
        resources: Some(vec![rbac.resource.to_string()]),
        resource_names: Some(rbac.objects.clone()),
        verbs: rbac.verbs.clone(),
        ..Default::default()
    }]
}

fn desired_subjects(rbac: &DesiredRbac) -> Vec<Subject> {
    rbac.subjects
        .iter()
        .map(|m| Subject {
            api_group: (m.kind != "ServiceAccount")
                .then(|| "rbac.authorization.k8s.io".to_string()),
            kind: m.kind.clone(),
            name: m.name.clone(),
            namespace: m.namespace.clone(),
        })
        .collect()
}

/// The Role a generated RoleBinding `name` binds: the Role of the same name.
fn role_ref(name: &str) -> RoleRef {
    RoleRef {
        api_group: Some("rbac.authorization.k8s.io".to_string()),
        kind: "Role".to_string(),
        name: name.to_string(),
    }
}

/// Whether `role` grants exactly what `desired` does.
fn role_is(role: &Role, desired: &DesiredRbac) -> bool {
    role.rules.as_ref() == Some(&desired_role(desired))
}

/// Whether `binding` (named `name`) binds its Role to exactly `desired`'s subjects.
fn binding_is(binding: &RoleBinding, name: &str, desired: &DesiredRbac) -> bool {
    binding.role_ref == role_ref(name) && subjects_are(binding, desired)
}

/// Whether `binding` names exactly the subjects of `desired`, in order.
fn subjects_are(binding: &RoleBinding, desired: &DesiredRbac) -> bool {
    let have = binding.subjects.as_deref().unwrap_or_default();
    have.len() == desired.subjects.len()
        && have.iter().zip(&desired.subjects).all(|(s, m)| {
            s.kind == m.kind
                && s.name == m.name
                && s.namespace == m.namespace
                && s.api_group.as_deref()
                    == (m.kind != "ServiceAccount").then_some("rbac.authorization.k8s.io")
        })
}

/// Whether `desired` keeps every rule and subject of `role` and `binding`.
fn adds_only(role: Option<&Role>, binding: Option<&RoleBinding>, desired: &DesiredRbac) -> bool {
    // The planner lists subjects sorted; were they not, a subject would look taken
    // away and the write would just not wait.
    let kept = |s: &Subject| {
        desired
            .subjects
            .binary_search_by(|m| {
                (m.kind.as_str(), m.name.as_str(), m.namespace.as_deref()).cmp(&(
                    s.kind.as_str(),
                    s.name.as_str(),
                    s.namespace.as_deref(),
                ))
            })
            .is_ok()
    };
    role.is_none_or(|r| role_is(r, desired))
        && binding.is_none_or(|b| b.subjects.iter().flatten().all(kept))
}

/// Converges one Role and RoleBinding `name` of one workflow. Returns false when an
/// object of the same name that we do not own is in the way (Conflict).
pub async fn rbac(
    ctx: &Context,
    key: &WorkflowKey,
    name: &str,
    desired: Option<&DesiredRbac>,
    owner: Option<OwnerReference>,
) -> Result<bool> {
    let target = RbacTarget {
        namespace: &key.namespace,
        name,
        labels: source_labels(key),
        owner,
    };
    rbac_for(ctx, &target, desired).await
}

/// Where a Role and RoleBinding of one object go, and how they are marked ours.
pub struct RbacTarget<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub labels: BTreeMap<String, String>,
    /// The object they serve, so they are deleted with it.
    pub owner: Option<OwnerReference>,
}

/// The Role and RoleBinding of `target` as the stores show them.
pub(super) fn stored(
    ctx: &Context,
    target: &RbacTarget<'_>,
) -> (Option<Arc<Role>>, Option<Arc<RoleBinding>>) {
    (
        ctx.stores
            .roles
            .get(&ObjectRef::new(target.name).within(target.namespace)),
        ctx.stores
            .role_bindings
            .get(&ObjectRef::new(target.name).within(target.namespace)),
    )
}

/// Whether `role` and `binding` are `target`'s as `desired` (both absent for None).
fn shown_as(
    role: Option<&Role>,
    binding: Option<&RoleBinding>,
    target: &RbacTarget<'_>,
    desired: Option<&DesiredRbac>,
) -> bool {
    let owner = target.owner.as_ref();
    match desired {
        None => role.is_none() && binding.is_none(),
        Some(d) => {
            role.is_some_and(|r| role_is(r, d) && owned_by(r, owner))
                && binding.is_some_and(|b| binding_is(b, target.name, d) && owned_by(b, owner))
        }
    }
}

/// Whether `obj` names `owner` as its only owner (anything, when there is none to name).
fn owned_by<R: Resource>(obj: &R, owner: Option<&OwnerReference>) -> bool {
    let Some(owner) = owner else {
        return true;
    };
    let refs = obj.meta().owner_references.as_deref().unwrap_or_default();
    refs.len() == 1 && refs[0].uid == owner.uid
}

/// Whether `obj` was made for another object than `owner`: an earlier one of the
/// same name, deleted since. It is replaced whole, never patched: a patch would
/// keep the earlier owner (and its creator) beside the new one.
fn made_for_another<R: Resource>(obj: &R, owner: Option<&OwnerReference>) -> bool {
    owner.is_some_and(|owner| {
        obj.meta()
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid != owner.uid)
    })
}

/// Converges one Role and RoleBinding for any object (see `rbac`).
pub async fn rbac_for(
    ctx: &Context,
    target: &RbacTarget<'_>,
    desired: Option<&DesiredRbac>,
) -> Result<bool> {
    let (role, binding) = stored(ctx, target);
    let foreign = role
        .as_ref()
        .is_some_and(|r| !has_labels(r.as_ref(), &target.labels))
        || binding
            .as_ref()
            .is_some_and(|b| !has_labels(b.as_ref(), &target.labels));
    if foreign {
        return Ok(false);
    }
    let (role, binding) = (role.as_deref(), binding.as_deref());
    if desired.is_some() && shown_as(role, binding, target, desired) {
        return Ok(true); // as it should be: the common case, and no slot to wait for
    }
    // Access being added waits behind library entries, so that under a burst (a
    // workspace joining) the entries appear first; access being taken away never
    // waits behind anything.
    let owner = target.owner.as_ref();
    let stale = role.is_some_and(|r| made_for_another(r, owner))
        || binding.is_some_and(|b| made_for_another(b, owner));
    let only_adds = !stale && desired.is_some_and(|d| adds_only(role, binding, d));
    if only_adds {
        let lane = crate::runtime::request_slots::Lane::Bookkeeping;
        let write = || write_rbac(ctx, target, role, binding, desired, stale);
        crate::runtime::request_slots::in_slot(&ctx.slots, lane, write).await?;
    } else {
        write_rbac(ctx, target, role, binding, desired, stale).await?;
    }
    Ok(true)
}

/// Whether the stores show `target` as `desired` (absent for None).
pub fn rbac_shown(ctx: &Context, target: &RbacTarget<'_>, desired: Option<&DesiredRbac>) -> bool {
    let (role, binding) = stored(ctx, target);
    shown_as(role.as_deref(), binding.as_deref(), target, desired)
}

/// Writes what differs between the Role and RoleBinding the stores show and `desired`.
async fn write_rbac(
    ctx: &Context,
    target: &RbacTarget<'_>,
    role: Option<&Role>,
    binding: Option<&RoleBinding>,
    desired: Option<&DesiredRbac>,
    // Made for an earlier object of this name (see `made_for_another`).
    stale: bool,
) -> Result<()> {
    let ours = target.labels.clone();
    let name = target.name.to_string();
    let namespace = target.namespace.to_string();
    let owners = target.owner.clone().map(|o| vec![o]);
    let roles: Api<Role> = Api::namespaced(ctx.client.clone(), &namespace);
    let bindings: Api<RoleBinding> = Api::namespaced(ctx.client.clone(), &namespace);

    // Made for an earlier object of this name: removed, then made anew below.
    let (role, binding) = if stale && desired.is_some() {
        remove_rbac(
            ctx,
            &bindings,
            &roles,
            &name,
            binding.is_some(),
            role.is_some(),
        )
        .await?;
        (None, None)
    } else {
        (role, binding)
    };

    let Some(desired) = desired else {
        // Nothing to grant: remove what exists.
        return remove_rbac(
            ctx,
            &bindings,
            &roles,
            &name,
            binding.is_some(),
            role.is_some(),
        )
        .await;
    };

    if role.is_none_or(|r| !role_is(r, desired)) {
        let body = Role {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                labels: Some(ours.clone()),
                owner_references: owners.clone(),
                ..Default::default()
            },
            rules: Some(desired_role(desired)),
        };
        ctx.metrics.write(WriteKind::Role);
        let written = create_or_apply(&ctx.client, &roles, &name, &body, role.is_none())
            .await
            .map_err(Error::kube("apply Role"))?;
        ctx.own_writes.wrote(&written);
    }
    if binding.is_none_or(|b| !binding_is(b, &name, desired)) {
        let body = RoleBinding {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                labels: Some(ours),
                owner_references: owners,
                ..Default::default()
            },
            role_ref: role_ref(&name),
            subjects: Some(desired_subjects(desired)),
        };
        ctx.metrics.write(WriteKind::RoleBinding);
        let written = create_or_apply(&ctx.client, &bindings, &name, &body, binding.is_none())
            .await
            .map_err(Error::kube("apply RoleBinding"))?;
        ctx.own_writes.wrote(&written);
    }
    Ok(())
}

/// Deletes a RoleBinding and Role `name` (the binding first, so access ends first).
async fn remove_rbac(
    ctx: &Context,
    bindings: &Api<RoleBinding>,
    roles: &Api<Role>,
    name: &str,
    binding: bool,
    role: bool,
) -> Result<()> {
    if binding {
        ctx.metrics.write(WriteKind::RoleBinding);
        ignore_not_found(
            bindings.delete(name, &DeleteParams::default()).await,
            "delete RoleBinding",
        )?;
    }
    if role {
        ctx.metrics.write(WriteKind::Role);
        ignore_not_found(
            roles.delete(name, &DeleteParams::default()).await,
            "delete Role",
        )?;
    }
    Ok(())
}

/// Writes `body` as `name`: created when the store does not have it (a create costs
/// the API server less than an apply that creates), applied otherwise or when the
/// create finds the name taken. Our later applies own every field we set: the
/// fields are the same each time, so none is ever left behind by the create's
/// field manager. Returns the metadata of the object as written.
async fn create_or_apply<K>(
    client: &kube::Client,
    api: &Api<K>,
    name: &str,
    body: &K,
    absent: bool,
) -> Result<Written<K>, kube::Error>
where
    K: Resource + serde::Serialize + std::fmt::Debug,
{
    if absent {
        match writes::create(client, api, &create_params(), body).await {
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            other => return other,
        }
    }
    writes::patch(client, api, name, &params(), &Patch::Apply(body)).await
}

fn ignore_not_found<T>(res: Result<T, kube::Error>, action: &'static str) -> Result<()> {
    match res {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(action)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{Access, SharedWorkflowSource};
    use serde_json::json;

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
            enabled,
        }
    }

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
        let full = serde_json::to_value(spec("texte", Some(true))).expect("encodes");
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
    fn entries_are_judged_by_owner_labels_then_spec() {
        let key = WorkflowKey {
            namespace: "ventes-été".into(),
            name: "qualification-des-leads".into(),
        };
        let entry = |labels: BTreeMap<String, String>, spec: SharedWorkflowSpec| {
            let mut sw = SharedWorkflow::new("ventes-été.qualification-des-leads", spec);
            sw.metadata.labels = Some(labels);
            sw.metadata.uid = Some("uid-1".into());
            Entry::from(sw)
        };
        let ours = source_labels(&key);
        let desired_spec = spec("d", None);
        let desired = crate::controller::sharing::entries::fingerprint(&desired_spec);
        assert_eq!(entry_state(None, &key, desired), EntryState::Missing);
        assert_eq!(
            entry_state(
                Some(&entry(BTreeMap::new(), desired_spec.clone())),
                &key,
                desired
            ),
            EntryState::Foreign
        );
        assert_eq!(
            entry_state(
                Some(&entry(ours.clone(), spec("d", Some(false)))),
                &key,
                desired
            ),
            EntryState::Current(Some("uid-1".into())),
            "the recipient's enabled is not a difference"
        );
        assert_eq!(
            entry_state(Some(&entry(ours, spec("autre", None))), &key, desired),
            EntryState::Differs
        );
    }

    fn readers(names: &[&str]) -> DesiredRbac {
        let mut subjects: Vec<crate::planner::Member> = names
            .iter()
            .map(|n| crate::planner::Member {
                kind: "Group".into(),
                name: n.to_string(),
                namespace: None,
            })
            .collect();
        subjects.sort();
        DesiredRbac {
            name: "lecteurs".into(),
            resource: "workflows",
            objects: vec!["qualification-des-leads".into()],
            verbs: vec!["get".into()],
            subjects,
        }
    }

    fn bound(desired: &DesiredRbac) -> RoleBinding {
        RoleBinding {
            subjects: Some(desired_subjects(desired)),
            ..Default::default()
        }
    }

    #[test]
    fn adding_a_reader_only_adds_and_any_removal_or_swap_takes_away() {
        let before = readers(&["équipe-support", "финансы"]);
        let binding = bound(&before);
        assert!(subjects_are(&binding, &before));
        let more = readers(&["équipe-support", "финансы", "법무"]);
        assert!(!subjects_are(&binding, &more));
        assert!(adds_only(None, Some(&binding), &more));
        let fewer = readers(&["финансы"]);
        assert!(!adds_only(None, Some(&binding), &fewer));
        let swapped = readers(&["équipe-support", "법무"]);
        assert!(!adds_only(None, Some(&binding), &swapped));
        let role = Role {
            rules: Some(desired_role(&readers(&["x"]))),
            ..Default::default()
        };
        let mut other_object = more.clone();
        other_object.objects = vec!["autre".into()];
        assert!(adds_only(Some(&role), Some(&binding), &more));
        assert!(
            !adds_only(Some(&role), Some(&binding), &other_object),
            "rules change"
        );
    }
}
