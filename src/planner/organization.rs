//! The organization roles: auditors and coordinators of an Organization are bound
//! in every workspace of it, and nowhere else.

use crate::naming;
use crate::resources::{OrganizationSpec, Subject};

/// ClusterRole of the read-only audit view.
pub const AUDITOR_ROLE: &str = "workflow-share-auditor";
/// ClusterRole of the audit view plus sharing any workflow of the organization.
pub const COORDINATOR_ROLE: &str = "workflow-share-coordinator";

/// A RoleBinding the controller keeps in one workspace for one organization role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredOrganizationBinding {
    pub namespace: String,
    pub name: String,
    pub cluster_role: &'static str,
    pub subjects: Vec<Subject>,
}

/// Bindings for `organization` in each of its `workspaces`: one per role that has
/// subjects. Workspaces that left are simply not listed; the caller removes what
/// it finds there.
pub fn plan_organization_roles(
    organization: &str,
    spec: &OrganizationSpec,
    workspaces: &[String],
) -> Vec<DesiredOrganizationBinding> {
    let roles = [
        (AUDITOR_ROLE, &spec.auditors),
        (COORDINATOR_ROLE, &spec.coordinators),
    ];
    let mut out = Vec::new();
    for ws in workspaces {
        for (role, subjects) in roles {
            if subjects.is_empty() {
                continue;
            }
            let mut subjects = subjects.clone();
            subjects.sort();
            subjects.dedup();
            out.push(DesiredOrganizationBinding {
                namespace: ws.clone(),
                name: naming::organization_binding_name(role, organization),
                cluster_role: role,
                subjects,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Subject {
        Subject {
            kind: "User".into(),
            name: name.into(),
        }
    }

    #[test]
    fn every_workspace_gets_one_binding_per_role_with_subjects() {
        let spec = OrganizationSpec {
            auditors: vec![user("erin"), user("erin")],
            coordinators: vec![
                user("山田太郎"),
                Subject {
                    kind: "Group".into(),
                    name: "realm-coordinators".into(),
                },
            ],
            ..Default::default()
        };
        let plan = plan_organization_roles("acme", &spec, &["sales".into(), "support".into()]);
        assert_eq!(plan.len(), 4);
        let auditors: Vec<_> = plan
            .iter()
            .filter(|b| b.cluster_role == AUDITOR_ROLE)
            .collect();
        assert_eq!(auditors.len(), 2);
        assert_eq!(auditors[0].subjects, vec![user("erin")], "deduplicated");
        assert_eq!(auditors[0].name, "workflow-share-auditor.acme");
        assert_eq!(plan[1].subjects.len(), 2);
    }

    #[test]
    fn no_subjects_no_bindings() {
        let plan = plan_organization_roles("acme", &OrganizationSpec::default(), &["sales".into()]);
        assert!(plan.is_empty());
    }
}
