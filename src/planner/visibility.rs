//! Who may see a Project or a Trigger: the same tiers, targets and rules as a
//! workflow (the rules of `rules` are shared), without the workflow's extras
//! (library entries in recipient workspaces, de-identification, archival,
//! notifications). A share of one never reaches anything else: sharing a project
//! gives read of the project object only.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::naming;
use crate::resources::condition::ConditionType;
use crate::resources::{
    Condition, GrantState, GrantVia, ShareScope, Tier, WorkflowShareStatus, WorkspaceGrant,
};

use super::directory::{Directory, Member};
use super::rules::{
    DesiredRbac, READ_VERBS, SharePlan, created_by, creator_grant, granted_object, person_grants,
    share_conditions, share_targets, sharer_not_allowed, target_problem,
};

/// The kinds shared like workflows but without library entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedKind {
    Project,
    Trigger,
}

impl SharedKind {
    /// The resource (plural) RBAC names.
    pub fn resource(self) -> &'static str {
        match self {
            SharedKind::Project => "projects",
            SharedKind::Trigger => "triggers",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            SharedKind::Project => "project",
            SharedKind::Trigger => "trigger",
        }
    }

    /// Role/RoleBinding names of the readers' and the creator's grants.
    pub fn rbac_names(self, object: &str) -> (String, String) {
        let noun = self.noun();
        (
            naming::fit_name(&format!("workflow-share-{noun}.{object}")),
            naming::fit_name(&format!("workflow-share-{noun}-creator.{object}")),
        )
    }
}

/// The creator's grant on a project or trigger (see `plan_visibility`).
pub fn creator_grant_of(
    directory: &Directory,
    kind: SharedKind,
    namespace: &str,
    name: &str,
    meta: &ObjectMeta,
) -> Option<DesiredRbac> {
    if meta.deletion_timestamp.is_some() {
        return None;
    }
    let (_, creator_rbac_name) = kind.rbac_names(name);
    creator_grant(
        directory,
        namespace,
        kind.resource(),
        name,
        creator_rbac_name,
        meta,
    )
}

/// One share of the object, as the planner needs it.
pub struct ShareInput<'a> {
    pub meta: &'a ObjectMeta,
    pub scope: &'a ShareScope,
    pub previous: Option<&'a WorkflowShareStatus>,
}

/// What one Project or Trigger should converge to.
#[derive(Clone, Debug, PartialEq)]
pub struct VisibilityPlan {
    pub readers: Option<DesiredRbac>,
    pub creator: Option<DesiredRbac>,
    pub shares: Vec<SharePlan>,
    pub tier: Tier,
    pub creator_name: Option<String>,
    /// Workspaces, then people (`User:name`), that may read it.
    pub shared_with: Vec<String>,
}

/// The object being planned: its kind, where it is, and its metadata (None when it
/// does not exist).
pub struct Target<'a> {
    pub kind: SharedKind,
    pub namespace: &'a str,
    pub name: &'a str,
    pub meta: Option<&'a ObjectMeta>,
}

/// A share's conditions: not Ready when its author may not share (fixable, so not
/// Stalled).
fn conditions_of(
    target: &Target<'_>,
    share: &ObjectMeta,
    allowed: bool,
    exists: bool,
    grants: &[WorkspaceGrant],
) -> Vec<Condition> {
    let noun = target.kind.noun();
    if allowed || !exists {
        return share_conditions(noun, exists, false, grants);
    }
    let (_, reason, message) = sharer_not_allowed(share, noun, target.name);
    vec![
        Condition::new(ConditionType::Ready, false, reason, message),
        Condition::new(ConditionType::Reconciling, false, "Reconciled", ""),
        Condition::new(ConditionType::Stalled, false, "Reconciled", ""),
    ]
}

/// Plans who may see one object; `unauthorized` names shares whose author may not
/// share it.
pub fn plan_visibility(
    directory: &Directory,
    target: &Target<'_>,
    shares: &[ShareInput<'_>],
    unauthorized: &BTreeSet<String>,
    now: &str,
) -> VisibilityPlan {
    let (kind, namespace, name, object) = (target.kind, target.namespace, target.name, target.meta);
    let exists = object.is_some_and(|o| o.deletion_timestamp.is_none());
    let owner_org = directory.organization_of(namespace);
    let mut readers: BTreeSet<Member> = BTreeSet::new();
    let mut workspaces_with_access: BTreeSet<String> = BTreeSet::new();
    let mut people_with_access: BTreeSet<String> = BTreeSet::new();
    let mut organization_wide = false;
    let mut plans = Vec::new();
    let mut live: Vec<&ShareInput<'_>> = shares
        .iter()
        .filter(|s| s.meta.deletion_timestamp.is_none())
        .collect();
    live.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));

    for share in live {
        let share_name = share.meta.name.clone().unwrap_or_default();
        let allowed = !unauthorized.contains(&share_name);
        let targets = share_targets(
            directory,
            owner_org,
            &share.scope.workspaces,
            share.scope.entire_organization,
        );
        let mut grants = Vec::new();
        for (ws, via) in targets {
            let own = ws == namespace;
            let problem = if own && via.contains(&GrantVia::Organization) {
                None // the organization tier includes the owner's workspace
            } else {
                target_problem(directory, namespace, owner_org, &ws)
            };
            let (state, reason, message) = match (exists, allowed, problem) {
                (false, _, _) => (
                    GrantState::Pending,
                    "ObjectNotFound",
                    format!("{} {name} does not exist in {namespace}", kind.noun()),
                ),
                (true, false, _) => sharer_not_allowed(share.meta, kind.noun(), name),
                (true, true, Some(problem)) => problem,
                (true, true, None) => (GrantState::Active, "Granted", String::new()),
            };
            if state == GrantState::Active {
                readers.extend(directory.recipients_of(&ws));
                if !own {
                    workspaces_with_access.insert(ws.clone());
                }
                if via.contains(&GrantVia::Organization) {
                    organization_wide = true;
                }
            }
            let previous = share
                .previous
                .and_then(|p| p.grants.iter().find(|g| g.workspace == ws));
            grants.push(WorkspaceGrant {
                workspace: ws,
                via: via.into_iter().collect(),
                state,
                reason: reason.to_string(),
                message,
                granted_at: (state == GrantState::Active).then(|| {
                    previous
                        .and_then(|p| p.granted_at.clone())
                        .unwrap_or_else(|| now.to_string())
                }),
            });
        }
        let mut people = person_grants(
            directory,
            owner_org,
            share.scope.people.as_ref(),
            share.previous,
            exists,
            false,
            Some(true),
            now,
        );
        for p in &mut people {
            if !allowed && exists {
                p.state = GrantState::Rejected;
                p.reason = "SharerNotAllowed".into();
                p.granted_at = None;
            }
            if p.state == GrantState::Active {
                readers.insert(Member {
                    kind: p.kind.clone(),
                    name: p.name.clone(),
                    namespace: None,
                });
                people_with_access.insert(format!("{}:{}", p.kind, p.name));
            }
        }
        let active = grants
            .iter()
            .filter(|g| g.state == GrantState::Active)
            .count();
        let conditions = conditions_of(target, share.meta, allowed, exists, &grants);
        plans.push(SharePlan {
            name: share_name,
            status: WorkflowShareStatus {
                observed_generation: share.meta.generation,
                conditions,
                active_grants: i32::try_from(active).unwrap_or(i32::MAX),
                grants,
                people,
                shared_by: created_by(share.meta),
                object: {
                    let recorded = share.previous.and_then(|s| s.object.as_ref());
                    match object.filter(|_| exists) {
                        Some(meta) => granted_object(meta, share.meta, recorded),
                        // Kept while none exists (see the workflow's plan).
                        None => recorded.cloned(),
                    }
                },
                ..Default::default()
            },
        });
    }

    let creator_name = object.filter(|_| exists).and_then(created_by);
    let (readers_name, _) = kind.rbac_names(name);
    let creator = object
        .filter(|_| exists)
        .and_then(|meta| creator_grant_of(directory, kind, namespace, name, meta));
    let shared = !workspaces_with_access.is_empty() || !people_with_access.is_empty();
    let tier = if organization_wide {
        Tier::Organization
    } else if shared {
        Tier::Shared
    } else {
        Tier::Private
    };
    VisibilityPlan {
        readers: (exists && !readers.is_empty()).then(|| DesiredRbac {
            name: readers_name,
            resource: kind.resource(),
            objects: vec![name.to_string()],
            verbs: READ_VERBS.iter().map(|v| v.to_string()).collect(),
            subjects: readers.into_iter().collect(),
        }),
        creator,
        shares: plans,
        tier,
        creator_name,
        // Bounded like every status (the shares' counts say how many in all).
        shared_with: workspaces_with_access
            .into_iter()
            .chain(people_with_access)
            .take(super::LISTED)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::People;

    fn directory() -> Directory {
        use k8s_openapi::api::core::v1::Namespace;
        use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding, RoleRef, Subject};
        let ns = |n: &str| Namespace {
            metadata: ObjectMeta {
                name: Some(n.into()),
                labels: Some([(crate::labels::ORGANIZATION.into(), "acme".into())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut org = crate::resources::Organization::new("acme", Default::default());
        org.metadata.name = Some("acme".into());
        let role = ClusterRole {
            metadata: ObjectMeta {
                name: Some("member".into()),
                labels: Some([(crate::labels::WORKSPACE_ROLE.into(), "member".into())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let binding = |ns: &str, user: &str| RoleBinding {
            metadata: ObjectMeta {
                name: Some(format!("m-{user}")),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: "member".into(),
            },
            subjects: Some(vec![Subject {
                kind: "User".into(),
                name: user.into(),
                ..Default::default()
            }]),
        };
        let (a, b) = (ns("sales"), ns("support"));
        let (ga, gb) = (binding("sales", "grace"), binding("support", "dave"));
        let (bob, zoe) = (binding("sales", "bob"), binding("support", "Zoë"));
        Directory::build([&org], [&a, &b], [&role], [&ga, &gb, &bob, &zoe])
    }

    fn object(creator: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some("roadmap".into()),
            namespace: Some("sales".into()),
            annotations: Some([(crate::labels::CREATED_BY.into(), creator.into())].into()),
            ..Default::default()
        }
    }

    fn share_meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("sales".into()),
            ..Default::default()
        }
    }

    fn names(plan: &VisibilityPlan) -> Vec<String> {
        plan.readers
            .iter()
            .flat_map(|r| r.subjects.iter())
            .map(|m| format!("{}:{}", m.kind, m.name))
            .collect()
    }

    #[test]
    fn projects_are_private_until_shared_and_only_the_project_is_granted() {
        let dir = directory();
        let meta = object("bob");
        let plan = plan_visibility(
            &dir,
            &Target {
                kind: SharedKind::Project,
                namespace: "sales",
                name: "roadmap",
                meta: Some(&meta),
            },
            &[],
            &BTreeSet::new(),
            "t",
        );
        assert_eq!(plan.tier, Tier::Private);
        assert!(plan.readers.is_none());
        let creator = plan.creator.expect("creator");
        assert_eq!(creator.resource, "projects");
        assert_eq!(creator.objects, ["roadmap"]);
        assert_eq!(creator.name, "workflow-share-project-creator.roadmap");

        let people = ShareScope {
            people: Some(People {
                users: vec!["Zoë".into()],
                groups: vec![],
            }),
            ..Default::default()
        };
        let m = share_meta("p");
        let input = [ShareInput {
            meta: &m,
            scope: &people,
            previous: None,
        }];
        let plan = plan_visibility(
            &dir,
            &Target {
                kind: SharedKind::Project,
                namespace: "sales",
                name: "roadmap",
                meta: Some(&meta),
            },
            &input,
            &BTreeSet::new(),
            "t",
        );
        assert_eq!(plan.tier, Tier::Shared);
        assert_eq!(names(&plan), ["User:Zoë"]);
        let readers = plan.readers.expect("readers");
        assert_eq!(
            (readers.resource, readers.objects[0].as_str()),
            ("projects", "roadmap")
        );
        assert_eq!(readers.verbs, ["get", "watch"]);
    }

    #[test]
    fn the_organization_tier_includes_the_owner_workspace() {
        let dir = directory();
        let meta = object("bob");
        let org = ShareScope {
            entire_organization: true,
            ..Default::default()
        };
        let m = share_meta("o");
        let input = [ShareInput {
            meta: &m,
            scope: &org,
            previous: None,
        }];
        let plan = plan_visibility(
            &dir,
            &Target {
                kind: SharedKind::Trigger,
                namespace: "sales",
                name: "roadmap",
                meta: Some(&meta),
            },
            &input,
            &BTreeSet::new(),
            "t",
        );
        assert_eq!(plan.tier, Tier::Organization);
        let subjects = names(&plan);
        assert!(
            subjects.contains(&"User:grace".into()) && subjects.contains(&"User:dave".into()),
            "{subjects:?}"
        );
        assert_eq!(plan.shares[0].status.active_grants, 2);
        assert_eq!(plan.shared_with, ["support"]);

        // Its author may not share: nothing is granted.
        let unauthorized = ["o".to_string()].into();
        let plan = plan_visibility(
            &dir,
            &Target {
                kind: SharedKind::Trigger,
                namespace: "sales",
                name: "roadmap",
                meta: Some(&meta),
            },
            &input,
            &unauthorized,
            "t",
        );
        assert!(plan.readers.is_none());
        assert_eq!(plan.tier, Tier::Private);
        assert!(
            plan.shares[0]
                .status
                .grants
                .iter()
                .all(|g| g.reason == "SharerNotAllowed")
        );
    }
}
