//! Converges generated Roles and RoleBindings to a plan with server-side apply,
//! writing only what differs from the cache, and never over an object someone
//! else made.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch};
use kube::runtime::reflector::ObjectRef;

use crate::error::{Error, Result};
use crate::metrics::WriteKind;
use crate::planner::{DesiredRbac, WorkflowKey};
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
pub async fn converge_target(
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
