//! Converges generated objects (SharedWorkflows, Role, RoleBinding) to a plan with
//! server-side apply, writing only what differs from the reflector stores.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::error::{Error, Result};
use crate::labels;
use crate::metrics::WriteKind;
use crate::naming;
use crate::planner::{DesiredRbac, DesiredSharedWorkflow, WorkflowKey};
use crate::resources::{GROUP, SharedWorkflow, SharedWorkflowSpec, VERSION};

use super::Context;

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
fn has_labels<R: Resource>(obj: &R, wanted: &BTreeMap<String, String>) -> bool {
    let have = obj.meta().labels.as_ref();
    wanted
        .iter()
        .all(|(k, v)| have.and_then(|l| l.get(k)) == Some(v))
}

fn params() -> PatchParams {
    PatchParams::apply(labels::FIELD_MANAGER).force()
}

/// Outcome of converging the SharedWorkflows of one workflow.
#[derive(Default, Debug)]
pub struct SharedWorkflowOutcome {
    /// Recipient workspace -> UID of its SharedWorkflow (created or existing).
    pub uids: BTreeMap<String, String>,
    /// Recipient workspaces where an object we do not own holds the name.
    pub conflicts: BTreeSet<String>,
}

fn spec_matches(actual: &SharedWorkflowSpec, desired: &SharedWorkflowSpec) -> bool {
    let mut actual = actual.clone();
    actual.enabled = None; // the recipient's field, never ours
    &actual == desired
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

    for d in desired {
        let api: Api<SharedWorkflow> = Api::namespaced(ctx.client.clone(), &d.workspace);
        let existing = ctx
            .stores
            .shared_workflows
            .get(&ObjectRef::new(&d.name).within(&d.workspace));
        if let Some(actual) = &existing {
            if !has_labels(actual.as_ref(), &ours) {
                outcome.conflicts.insert(d.workspace.clone());
                continue;
            }
            if spec_matches(&actual.spec, &d.spec) {
                if let Some(uid) = actual.uid() {
                    outcome.uids.insert(d.workspace.clone(), uid);
                }
                continue;
            }
        }
        let body = json!({
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "kind": "SharedWorkflow",
            "metadata": { "name": d.name, "namespace": d.workspace, "labels": ours },
            "spec": d.spec,
        });
        ctx.metrics.write(WriteKind::SharedWorkflow);
        let applied = api
            .patch(&d.name, &params(), &Patch::Apply(&body))
            .await
            .map_err(Error::kube("apply SharedWorkflow"))?;
        if let Some(uid) = applied.uid() {
            outcome.uids.insert(d.workspace.clone(), uid);
        }
    }

    // Remove what this workflow no longer grants (label-scoped, so never someone
    // else's). Its entries all carry one generated name, so look that name up in each
    // namespace rather than scanning every entry of every workflow.
    let entry_name = naming::shared_workflow_name(&key.namespace, &key.name);
    let candidates = ctx.stores.namespaces.state().into_iter().filter_map(|ns| {
        ctx.stores
            .shared_workflows
            .get(&ObjectRef::new(&entry_name).within(&ns.name_any()))
    });
    for actual in candidates {
        let (Some(ns), name) = (actual.namespace(), actual.name_any()) else {
            continue;
        };
        if has_labels(actual.as_ref(), &ours)
            && actual.spec.source.namespace == key.namespace
            && actual.spec.source.name == key.name
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
    api.patch(
        name,
        &params,
        &Patch::Merge(json!({ "spec": { "enabled": true } })),
    )
    .await
    .map_err(Error::kube("restore SharedWorkflow enabled"))?;
    Ok(())
}

fn desired_role(rbac: &DesiredRbac) -> Vec<PolicyRule> {
    vec![PolicyRule {
        api_groups: Some(vec![GROUP.to_string()]),
        resources: Some(vec![rbac.resource.to_string()]),
        resource_names: Some(vec![rbac.object.clone()]),
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

/// Converges one Role and RoleBinding `name` of one workflow. Returns false when an
/// object of the same name that we do not own is in the way (Conflict).
pub async fn rbac(
    ctx: &Context,
    key: &WorkflowKey,
    name: &str,
    desired: Option<&DesiredRbac>,
) -> Result<bool> {
    let target = RbacTarget {
        namespace: &key.namespace,
        name,
        labels: source_labels(key),
        owner: None,
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

/// Converges one Role and RoleBinding for any object (see `rbac`).
pub async fn rbac_for(
    ctx: &Context,
    target: &RbacTarget<'_>,
    desired: Option<&DesiredRbac>,
) -> Result<bool> {
    let ours = target.labels.clone();
    let name = target.name.to_string();
    let namespace = target.namespace.to_string();
    let owners = target.owner.clone().map(|o| vec![o]);
    let role = ctx
        .stores
        .roles
        .get(&ObjectRef::new(&name).within(&namespace));
    let binding = ctx
        .stores
        .role_bindings
        .get(&ObjectRef::new(&name).within(&namespace));
    let foreign = role
        .as_ref()
        .is_some_and(|r| !has_labels(r.as_ref(), &ours))
        || binding
            .as_ref()
            .is_some_and(|b| !has_labels(b.as_ref(), &ours));
    if foreign {
        return Ok(false);
    }
    let roles: Api<Role> = Api::namespaced(ctx.client.clone(), &namespace);
    let bindings: Api<RoleBinding> = Api::namespaced(ctx.client.clone(), &namespace);

    let Some(desired) = desired else {
        // Nothing to grant: remove what exists (binding first, so access ends first).
        if binding.is_some() {
            ctx.metrics.write(WriteKind::RoleBinding);
            ignore_not_found(
                bindings.delete(&name, &DeleteParams::default()).await,
                "delete RoleBinding",
            )?;
        }
        if role.is_some() {
            ctx.metrics.write(WriteKind::Role);
            ignore_not_found(
                roles.delete(&name, &DeleteParams::default()).await,
                "delete Role",
            )?;
        }
        return Ok(true);
    };

    let rules = desired_role(desired);
    if role
        .as_ref()
        .is_none_or(|r| r.rules.as_ref() != Some(&rules))
    {
        let body = Role {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                labels: Some(ours.clone()),
                owner_references: owners.clone(),
                ..Default::default()
            },
            rules: Some(rules),
        };
        ctx.metrics.write(WriteKind::Role);
        roles
            .patch(&name, &params(), &Patch::Apply(&body))
            .await
            .map_err(Error::kube("apply Role"))?;
    }
    let subjects = desired_subjects(desired);
    let role_ref = RoleRef {
        api_group: Some("rbac.authorization.k8s.io".to_string()),
        kind: "Role".to_string(),
        name: name.clone(),
    };
    let same = binding
        .as_ref()
        .is_some_and(|b| b.subjects.as_ref() == Some(&subjects) && b.role_ref == role_ref);
    if !same {
        let body = RoleBinding {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                labels: Some(ours),
                owner_references: owners,
                ..Default::default()
            },
            role_ref,
            subjects: Some(subjects),
        };
        ctx.metrics.write(WriteKind::RoleBinding);
        bindings
            .patch(&name, &params(), &Patch::Apply(&body))
            .await
            .map_err(Error::kube("apply RoleBinding"))?;
    }
    Ok(true)
}

fn ignore_not_found<T>(res: Result<T, kube::Error>, action: &'static str) -> Result<()> {
    match res {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(action)(e)),
    }
}
