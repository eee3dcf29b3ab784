//! Organization status: its workspaces, read fresh from the API on each change.

use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject as RbacSubject};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::error::{Error, Result};
use crate::labels;
use crate::metrics::WriteKind;
use crate::naming;
use crate::planner::{DesiredOrganizationBinding, plan_organization_roles};
use crate::resources::condition::ConditionType;
use crate::resources::condition::now_rfc3339;
use crate::resources::{Condition, Organization, OrganizationStatus};

use crate::controller::Context;
use crate::runtime::controllers::Loops;
use crate::runtime::status_writes;

/// Maps namespace events to the Organizations they concern: the one the namespace
/// names now and the one it named before (a watch event carries only the new object,
/// so a namespace leaving an organization would otherwise go unnoticed).
#[derive(Default, Clone)]
pub struct MembershipTracker(Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>);

impl MembershipTracker {
    pub fn organizations_of(&self, ns: &Namespace) -> Vec<ObjectRef<Organization>> {
        let name = ns.name_any();
        let now = ns.labels().get(labels::ORGANIZATION).cloned();
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let before = match &now {
            Some(org) => seen.insert(name, org.clone()),
            None => seen.remove(&name),
        };
        let mut orgs: Vec<String> = now.into_iter().chain(before).collect();
        orgs.dedup();
        orgs.iter().map(|o| ObjectRef::new(o)).collect()
    }
}

fn organization_labels(organization: &str) -> BTreeMap<String, String> {
    [
        (
            labels::MANAGED_BY_KEY.to_string(),
            labels::MANAGED_BY_VALUE.to_string(),
        ),
        (
            labels::ORGANIZATION_GRANT.to_string(),
            naming::label_value(organization),
        ),
    ]
    .into()
}

/// Applies the auditor and coordinator RoleBindings of `org` and removes the ones
/// it keeps in namespaces that are no longer its workspaces (or whose role lost
/// all subjects). Returns `namespace/name` of foreign bindings in the way.
async fn converge_role_bindings(
    ctx: &Context,
    org: &Organization,
    desired: &[DesiredOrganizationBinding],
) -> Result<Vec<String>> {
    let name = org.name_any();
    let ours = organization_labels(&name);
    let is_ours = |rb: &RoleBinding| {
        rb.metadata
            .labels
            .as_ref()
            .is_some_and(|l| ours.iter().all(|(k, v)| l.get(k) == Some(v)))
    };
    let owner = crate::controller::sharing::generated::deleted_with(org).map(|mut o| {
        o.controller = Some(false);
        o
    });
    let mut conflicts = Vec::new();
    for want in desired {
        let existing = ctx
            .stores
            .role_bindings
            .get(&ObjectRef::new(&want.name).within(&want.namespace));
        if existing.as_deref().is_some_and(|rb| !is_ours(rb)) {
            conflicts.push(format!("{}/{}", want.namespace, want.name));
            continue;
        }
        let role_ref = RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_string()),
            kind: "ClusterRole".to_string(),
            name: want.cluster_role.to_string(),
        };
        let subjects: Vec<RbacSubject> = want
            .subjects
            .iter()
            .map(|s| RbacSubject {
                api_group: Some("rbac.authorization.k8s.io".to_string()),
                kind: s.kind.clone(),
                name: s.name.clone(),
                namespace: None,
            })
            .collect();
        if existing
            .as_deref()
            .is_some_and(|rb| rb.role_ref == role_ref && rb.subjects.as_ref() == Some(&subjects))
        {
            continue;
        }
        let body = RoleBinding {
            metadata: kube::api::ObjectMeta {
                name: Some(want.name.clone()),
                namespace: Some(want.namespace.clone()),
                labels: Some(ours.clone()),
                owner_references: owner.clone().map(|o| vec![o]),
                ..Default::default()
            },
            role_ref,
            subjects: Some(subjects),
        };
        let api: Api<RoleBinding> = Api::namespaced(ctx.client.clone(), &want.namespace);
        ctx.metrics.write(WriteKind::RoleBinding);
        api.patch(
            &want.name,
            &PatchParams::apply(labels::FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(Error::kube("apply organization RoleBinding"))?;
    }
    let stale: Vec<(String, String)> = ctx
        .stores
        .role_bindings
        .state()
        .iter()
        .filter(|rb| is_ours(rb))
        .filter_map(|rb| Some((rb.namespace()?, rb.name_any())))
        .filter(|(ns, n)| !desired.iter().any(|d| &d.namespace == ns && &d.name == n))
        .collect();
    for (ns, n) in stale {
        let api: Api<RoleBinding> = Api::namespaced(ctx.client.clone(), &ns);
        ctx.metrics.write(WriteKind::RoleBinding);
        match api.delete(&n, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(Error::kube("delete organization RoleBinding")(e)),
        }
    }
    Ok(conflicts)
}

/// The Organization a RoleBinding of ours was kept for, from its label.
pub fn organization_of_binding(rb: &RoleBinding) -> Option<ObjectRef<Organization>> {
    let labels = rb.metadata.labels.as_ref()?;
    if labels.get(labels::MANAGED_BY_KEY).map(String::as_str) != Some(labels::MANAGED_BY_VALUE) {
        return None;
    }
    labels
        .get(labels::ORGANIZATION_GRANT)
        .map(|org| ObjectRef::new(org))
}

/// Starts the organization controller: woken by its Organizations, by namespaces
/// joining or leaving one, and by someone removing or editing an auditor or
/// coordinator binding.
pub fn start(loops: &mut Loops, ctx: &Arc<Context>, client: &kube::Client) {
    let all = watcher::Config::default;
    let tracker = MembershipTracker::default();
    let controller = Controller::new(Api::<Organization>::all(client.clone()), all())
        .watches(Api::<Namespace>::all(client.clone()), all(), move |ns| {
            tracker.organizations_of(&ns)
        })
        .watches(
            Api::<RoleBinding>::all(client.clone()),
            all().labels(labels::ORGANIZATION_GRANT),
            |rb| organization_of_binding(&rb),
        );
    loops.spawn("organization", controller, ctx, reconcile);
}

pub async fn reconcile(org: Arc<Organization>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = org.name_any();
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let selector = format!("{}={}", labels::ORGANIZATION, name);
    let mut workspaces: Vec<String> = namespaces
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::kube("list workspaces"))?
        .items
        .into_iter()
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .filter_map(|n| n.metadata.name)
        .collect();
    workspaces.sort();
    let desired = plan_organization_roles(&name, &org.spec, &workspaces);
    let conflicts = converge_role_bindings(&ctx, &org, &desired).await?;
    let conditions = vec![if conflicts.is_empty() {
        Condition::new(
            ConditionType::Ready,
            true,
            "WorkspacesListed",
            format!("{} workspace(s)", workspaces.len()),
        )
    } else {
        Condition::new(
            ConditionType::Ready,
            false,
            "Conflict",
            format!(
                "RoleBindings exist and are not managed by workflow-share: {}",
                crate::text::join_within(&conflicts, 1024)
            ),
        )
    }];
    let next = OrganizationStatus {
        observed_generation: org.meta().generation,
        conditions,
        workspace_count: i32::try_from(workspaces.len()).unwrap_or(i32::MAX),
        // Bounded, like every status: the namespaces labelled with it list them all.
        workspaces: workspaces
            .into_iter()
            .take(crate::planner::LISTED)
            .collect(),
    };
    let api: Api<Organization> = Api::all(ctx.client.clone());
    status_writes::write_if_changed(&ctx, &api, &org, next, &now_rfc3339()).await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}
