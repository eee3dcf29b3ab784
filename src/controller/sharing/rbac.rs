//! Converges generated Roles and RoleBindings to a plan with server-side apply,
//! writing only what differs from the cache, and never over an object someone
//! else made. A grant is one Role and its RoleBindings: one, or several parts of
//! bounded size when its subjects are many (see the planner's `rbac_parts`).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch};
use kube::runtime::reflector::ObjectRef;

use crate::error::{Error, Result};
use crate::metrics::WriteKind;
use crate::planner::{DesiredRbac, Member, WorkflowKey, part_name, rbac_parts};
use crate::resources::GROUP;

use super::generated::*;
use crate::controller::Context;
use crate::runtime::writes::{self, Written};

fn desired_role(rbac: &DesiredRbac) -> Vec<PolicyRule> {
    vec![PolicyRule {
        api_groups: Some(vec![GROUP.to_string()]),
        resources: Some(vec![rbac.resource.to_string()]),
        resource_names: Some(rbac.objects.clone()),
        verbs: rbac.verbs.clone(),
        ..Default::default()
    }]
}

fn desired_subjects(subjects: &[Member]) -> Vec<Subject> {
    subjects
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

/// Whether `binding` binds the Role `role` to exactly `subjects`.
fn binding_is(binding: &RoleBinding, role: &str, subjects: &[Member]) -> bool {
    binding.role_ref == role_ref(role) && subjects_are(binding, subjects)
}

/// Whether `binding` names exactly `subjects`, in order.
fn subjects_are(binding: &RoleBinding, subjects: &[Member]) -> bool {
    let have = binding.subjects.as_deref().unwrap_or_default();
    have.len() == subjects.len()
        && have.iter().zip(subjects).all(|(s, m)| {
            s.kind == m.kind
                && s.name == m.name
                && s.namespace == m.namespace
                && s.api_group.as_deref()
                    == (m.kind != "ServiceAccount").then_some("rbac.authorization.k8s.io")
        })
}

/// Whether `desired` keeps every rule of `role` and every subject of `bindings`.
fn adds_only(role: Option<&Role>, bindings: &[Arc<RoleBinding>], desired: &DesiredRbac) -> bool {
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
        && bindings
            .iter()
            .all(|b| b.subjects.iter().flatten().all(kept))
}

/// Converges one Role and RoleBinding `name` of one workflow. Returns false when an
/// object of the same name that we do not own is in the way (Conflict).
pub async fn converge(
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
    converge_target(ctx, &target, desired).await
}

/// Where a Role and RoleBinding of one object go, and how they are marked ours.
pub struct RbacTarget<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub labels: BTreeMap<String, String>,
    /// The object they serve, so they are deleted with it.
    pub owner: Option<OwnerReference>,
}

/// Consecutive missing part names after which no more parts are looked for: parts
/// are written in order and removed from the last, so a gap is only ever one
/// someone made by hand, and parts past a short one are still found and removed.
const PART_GAP: usize = 8;

/// The Role and RoleBindings (parts, in order) of `target` as the stores show them.
pub(super) fn stored(
    ctx: &Context,
    target: &RbacTarget<'_>,
) -> (Option<Arc<Role>>, Vec<Arc<RoleBinding>>) {
    let binding = |i: usize| {
        ctx.stores
            .role_bindings
            .get(&ObjectRef::new(&part_name(target.name, i)).within(target.namespace))
    };
    let mut bindings: Vec<Arc<RoleBinding>> = binding(0).into_iter().collect();
    let (mut i, mut missing) = (1, 0);
    while missing < PART_GAP {
        match binding(i) {
            Some(b) => {
                bindings.push(b);
                missing = 0;
            }
            None => missing += 1,
        }
        i += 1;
    }
    let role = ctx
        .stores
        .roles
        .get(&ObjectRef::new(target.name).within(target.namespace));
    (role, bindings)
}

/// Whether `role` and `bindings` are `target`'s as `desired` (none for None).
fn shown_as(
    role: Option<&Role>,
    bindings: &[Arc<RoleBinding>],
    target: &RbacTarget<'_>,
    desired: Option<&DesiredRbac>,
) -> bool {
    let owner = target.owner.as_ref();
    match desired {
        None => role.is_none() && bindings.is_empty(),
        Some(d) => {
            let parts = rbac_parts(target.name, &d.subjects);
            role.is_some_and(|r| role_is(r, d) && owned_by(r, owner))
                && bindings.len() == parts.len()
                && bindings.iter().zip(&parts).all(|(b, (name, subjects))| {
                    b.metadata.name.as_deref() == Some(name.as_str())
                        && binding_is(b, target.name, subjects)
                        && owned_by(b.as_ref(), owner)
                })
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
pub async fn converge_target(
    ctx: &Context,
    target: &RbacTarget<'_>,
    desired: Option<&DesiredRbac>,
) -> Result<bool> {
    let (role, bindings) = stored(ctx, target);
    let foreign = role
        .as_ref()
        .is_some_and(|r| !has_labels(r.as_ref(), &target.labels))
        || bindings
            .iter()
            .any(|b| !has_labels(b.as_ref(), &target.labels));
    if foreign {
        return Ok(false);
    }
    let role = role.as_deref();
    if desired.is_some() && shown_as(role, &bindings, target, desired) {
        return Ok(true); // as it should be: the common case, and no slot to wait for
    }
    // Access being added waits behind library entries, so that under a burst (a
    // workspace joining) the entries appear first; access being taken away never
    // waits behind anything.
    let owner = target.owner.as_ref();
    let stale = role.is_some_and(|r| made_for_another(r, owner))
        || bindings.iter().any(|b| made_for_another(b.as_ref(), owner));
    let only_adds = !stale && desired.is_some_and(|d| adds_only(role, &bindings, d));
    let bindings = &bindings;
    if only_adds {
        let lane = crate::runtime::request_slots::Lane::Bookkeeping;
        let write = || write_rbac(ctx, target, role, bindings, desired, stale);
        crate::runtime::request_slots::in_slot(&ctx.slots, lane, write).await?;
    } else {
        write_rbac(ctx, target, role, bindings, desired, stale).await?;
    }
    Ok(true)
}

/// Whether the stores show `target` as `desired` (absent for None).
pub fn rbac_shown(ctx: &Context, target: &RbacTarget<'_>, desired: Option<&DesiredRbac>) -> bool {
    let (role, bindings) = stored(ctx, target);
    shown_as(role.as_deref(), &bindings, target, desired)
}

/// Writes what differs between the Role and RoleBindings the stores show and `desired`.
async fn write_rbac(
    ctx: &Context,
    target: &RbacTarget<'_>,
    role: Option<&Role>,
    bindings: &[Arc<RoleBinding>],
    desired: Option<&DesiredRbac>,
    // Made for an earlier object of this name (see `made_for_another`).
    stale: bool,
) -> Result<()> {
    let name = target.name.to_string();
    let namespace = target.namespace.to_string();
    let roles: Api<Role> = Api::namespaced(ctx.client.clone(), &namespace);
    let bindings_api: Api<RoleBinding> = Api::namespaced(ctx.client.clone(), &namespace);

    // Nothing to grant, or made for an earlier object of this name: removed (and
    // then, for the latter, made anew below).
    let (role, bindings) = if stale || desired.is_none() {
        remove_bindings(ctx, &bindings_api, &name, bindings, 0).await?;
        if role.is_some() {
            ctx.metrics.write(WriteKind::Role);
            ignore_not_found(
                roles.delete(&name, &DeleteParams::default()).await,
                "delete Role",
            )?;
        }
        (None, &[][..])
    } else {
        (role, bindings)
    };
    let Some(desired) = desired else {
        return Ok(());
    };

    let owners = target.owner.clone().map(|o| vec![o]);
    let meta = |name: &str| kube::api::ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.clone()),
        labels: Some(target.labels.clone()),
        owner_references: owners.clone(),
        ..Default::default()
    };
    if role.is_none_or(|r| !role_is(r, desired)) {
        let body = Role {
            metadata: meta(&name),
            rules: Some(desired_role(desired)),
        };
        ctx.metrics.write(WriteKind::Role);
        let written = create_or_apply(&ctx.client, &roles, &name, &body, role.is_none())
            .await
            .map_err(Error::kube("apply Role"))?;
        ctx.own_writes.wrote(&written);
    }
    // Parts in order, then the ones no longer wanted from the last: never a gap.
    let parts = rbac_parts(&name, &desired.subjects);
    for (part, subjects) in &parts {
        let have = bindings
            .iter()
            .find(|b| b.metadata.name.as_deref() == Some(part.as_str()));
        if have.is_some_and(|b| binding_is(b, &name, subjects)) {
            continue;
        }
        let body = RoleBinding {
            metadata: meta(part),
            role_ref: role_ref(&name),
            subjects: Some(desired_subjects(subjects)),
        };
        ctx.metrics.write(WriteKind::RoleBinding);
        let written = create_or_apply(&ctx.client, &bindings_api, part, &body, have.is_none())
            .await
            .map_err(Error::kube("apply RoleBinding"))?;
        ctx.own_writes.wrote(&written);
    }
    remove_bindings(ctx, &bindings_api, &name, bindings, parts.len()).await
}

/// Deletes the RoleBindings among `bindings` that are not among the first `keep`
/// parts, from the last: access ends before its Role goes.
async fn remove_bindings(
    ctx: &Context,
    api: &Api<RoleBinding>,
    grant: &str,
    bindings: &[Arc<RoleBinding>],
    keep: usize,
) -> Result<()> {
    let wanted: Vec<String> = (0..keep).map(|i| part_name(grant, i)).collect();
    for binding in bindings.iter().rev() {
        let Some(name) = binding.metadata.name.as_deref() else {
            continue;
        };
        if wanted.iter().any(|w| w == name) {
            continue;
        }
        ctx.metrics.write(WriteKind::RoleBinding);
        ignore_not_found(
            api.delete(name, &DeleteParams::default()).await,
            "delete RoleBinding",
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

#[cfg(test)]
mod tests {
    use super::*;

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
            subjects: Some(desired_subjects(&desired.subjects)),
            ..Default::default()
        }
    }

    #[test]
    fn adding_a_reader_only_adds_and_any_removal_or_swap_takes_away() {
        let before = readers(&["équipe-support", "финансы"]);
        let binding = Arc::new(bound(&before));
        let bindings = std::slice::from_ref(&binding);
        assert!(subjects_are(&binding, &before.subjects));
        let more = readers(&["équipe-support", "финансы", "법무"]);
        assert!(!subjects_are(&binding, &more.subjects));
        assert!(adds_only(None, bindings, &more));
        let fewer = readers(&["финансы"]);
        assert!(!adds_only(None, bindings, &fewer));
        let swapped = readers(&["équipe-support", "법무"]);
        assert!(!adds_only(None, bindings, &swapped));
        let role = Role {
            rules: Some(desired_role(&readers(&["x"]))),
            ..Default::default()
        };
        let mut other_object = more.clone();
        other_object.objects = vec!["autre".into()];
        assert!(adds_only(Some(&role), bindings, &more));
        assert!(
            !adds_only(Some(&role), bindings, &other_object),
            "rules change"
        );
    }
}
