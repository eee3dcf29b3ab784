//! Organization status: its workspaces, read fresh from the API on each change.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use crate::error::{Error, Result};
use crate::labels;
use crate::resources::condition::now_rfc3339;
use crate::resources::{Condition, Organization, OrganizationStatus};

use super::{Context, status};

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
    let conditions = vec![Condition::new(
        "Ready",
        true,
        "WorkspacesListed",
        format!("{} workspace(s)", workspaces.len()),
    )];
    let next = OrganizationStatus {
        observed_generation: org.meta().generation,
        conditions,
        workspace_count: i32::try_from(workspaces.len()).unwrap_or(i32::MAX),
        workspaces,
    };
    let api: Api<Organization> = Api::all(ctx.client.clone());
    status::apply_if_changed(&ctx, &api, &org, next, &now_rfc3339()).await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}
