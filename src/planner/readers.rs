//! The organization readers of a workspace: one Role and RoleBinding that let every
//! member of the organization read the workspace's organization-wide workflows.
//! Per workflow, they would be one binding per workflow listing the whole
//! organization, all rewritten whenever a workspace joins; here a join rewrites one
//! binding per owner workspace.

use std::collections::BTreeSet;

use crate::naming;

use super::WorkflowPlan;
use super::directory::{Directory, Member};
use super::rules::{DesiredRbac, READ_VERBS};

/// The grant in `namespace` for its organization-readable `workflows`: None when
/// there are none, or when the namespace is not a workspace of an organization.
pub fn plan_organization_readers<'a>(
    directory: &Directory,
    namespace: &str,
    workflows: impl IntoIterator<Item = &'a str>,
) -> Option<DesiredRbac> {
    let organization = directory.organization_of(namespace)?;
    let objects: BTreeSet<&str> = workflows.into_iter().collect();
    if objects.is_empty() {
        return None;
    }
    let subjects: BTreeSet<Member> = directory
        .workspaces_of(organization)
        .flat_map(|ws| directory.recipients_of(ws))
        .collect();
    Some(DesiredRbac {
        name: naming::organization_readers_name(),
        resource: "workflows",
        objects: objects.into_iter().map(String::from).collect(),
        verbs: READ_VERBS.iter().map(|v| v.to_string()).collect(),
        subjects: subjects.into_iter().collect(),
    })
}

/// The organization readers grants of every owner workspace among `plans`, by
/// namespace (what `plan` prints next to the workflows' own grants).
pub fn organization_readers_of_plans(
    directory: &Directory,
    plans: &[WorkflowPlan],
) -> Vec<(String, DesiredRbac)> {
    let namespaces: BTreeSet<&str> = plans.iter().map(|p| p.namespace.as_str()).collect();
    namespaces
        .into_iter()
        .filter_map(|ns| {
            let readable = plans
                .iter()
                .filter(|p| p.namespace == ns && p.organization_readable)
                .map(|p| p.workflow.as_str());
            plan_organization_readers(directory, ns, readable).map(|r| (ns.to_string(), r))
        })
        .collect()
}
