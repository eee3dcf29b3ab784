//! Table-driven tests of the pure planner: scopes × organization boundaries ×
//! archival × de-identification, and notification bookkeeping.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding, RoleRef, Subject};
use kube::api::ObjectMeta;

use super::*;
use crate::resources::*;

fn ns(name: &str, org: Option<&str>) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: org.map(|o| [(crate::labels::ORGANIZATION.to_string(), o.to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn org(name: &str, deid_default: bool) -> Organization {
    let mut o = Organization::new(
        name,
        OrganizationSpec {
            deidentification_default: deid_default,
            ..Default::default()
        },
    );
    o.metadata.name = Some(name.into());
    o
}

fn role(name: &str, role: &str) -> ClusterRole {
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some([(crate::labels::WORKSPACE_ROLE.to_string(), role.to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn binding(ns: &str, cluster_role: &str, user: &str) -> RoleBinding {
    RoleBinding {
        metadata: ObjectMeta {
            name: Some(format!("{cluster_role}-{user}")),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: cluster_role.into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: user.into(),
            ..Default::default()
        }]),
    }
}

fn workflow(archived: bool, deid: Option<bool>) -> Workflow {
    let mut w = Workflow::new(
        "wf",
        WorkflowSpec {
            display_name: "WF".into(),
            archived,
            deidentification: deid.map(|enabled| workflow::Deidentification { enabled }),
            ..Default::default()
        },
    );
    w.metadata.namespace = Some("sales".into());
    w.metadata.generation = Some(1);
    w
}

fn share(name: &str, workspaces: &[&str], org_wide: bool) -> WorkflowShare {
    let mut s = WorkflowShare::new(
        name,
        WorkflowShareSpec {
            workflow_ref: WorkflowRef {
                name: "wf".into(),
                namespace: None,
            },
            workspaces: workspaces.iter().map(|w| w.to_string()).collect(),
            entire_organization: org_wide,
            ..Default::default()
        },
    );
    s.metadata.namespace = Some("sales".into());
    s
}

fn snapshot(workflows: Vec<Workflow>, shares: Vec<WorkflowShare>) -> Snapshot {
    Snapshot {
        organizations: vec![org("acme", true), org("globex", true)],
        namespaces: vec![
            ns("sales", Some("acme")),
            ns("support", Some("acme")),
            ns("finance", Some("acme")),
            ns("elsewhere", Some("globex")),
            ns("plain", None),
            ns("ghost-org", Some("nobody")),
        ],
        cluster_roles: vec![role("ws-owner", "owner"), role("ws-member", "member")],
        role_bindings: vec![
            binding("support", "ws-member", "dave"),
            binding("support", "ws-owner", "carol"),
            binding("sales", "ws-member", "bob"),
        ],
        workflows,
        shares,
    }
}

/// `snapshot` with people bound in workspaces: frank and Zoë in finance, the group
/// auditors in support (all of acme), mallory in globex's workspace.
fn snapshot_with_people(workflows: Vec<Workflow>, shares: Vec<WorkflowShare>) -> Snapshot {
    let mut snap = snapshot(workflows, shares);
    snap.role_bindings.extend([
        binding("finance", "ws-member", "frank"),
        binding("finance", "ws-member", "Zoë"),
        group_binding("support", "ws-member", "auditors"),
        binding("elsewhere", "ws-member", "mallory"),
    ]);
    snap
}

fn states(plan: &WorkflowPlan) -> Vec<(String, GrantState, String)> {
    plan.shares
        .iter()
        .flat_map(|s| s.status.grants.iter())
        .map(|g| (g.workspace.clone(), g.state, g.reason.clone()))
        .collect()
}

/// `Kind:name` of every RBAC subject the plan grants (empty without RBAC).
fn subject_names(plan: &WorkflowPlan) -> Vec<String> {
    plan.rbac
        .iter()
        .flat_map(|r| r.subjects.iter())
        .map(|m| format!("{}:{}", m.kind, m.name))
        .collect()
}

/// Everyone who may read the workflow: its own grant's subjects and, when it is
/// organization-readable, those of its workspace's organization readers grant.
fn reader_names(snap: &Snapshot, plan: &WorkflowPlan) -> Vec<String> {
    let organization = plan
        .organization_readable
        .then(|| {
            plan_organization_readers(&snap.directory(), &plan.namespace, [plan.workflow.as_str()])
        })
        .flatten();
    let mut names: Vec<String> = plan
        .rbac
        .iter()
        .chain(&organization)
        .flat_map(|r| r.subjects.iter())
        .map(|m| format!("{}:{}", m.kind, m.name))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn plan_one(snap: &Snapshot) -> WorkflowPlan {
    let key = WorkflowKey {
        namespace: "sales".into(),
        name: "wf".into(),
    };
    snap.plan(&key, &snap.directory(), "2026-01-01T00:00:00Z")
}

#[test]
fn target_resolution_table() {
    use GrantState::*;
    let cases: Vec<(&str, GrantState, &str)> = vec![
        ("support", Active, "Granted"),
        ("elsewhere", Rejected, "OtherOrganization"),
        ("plain", Rejected, "NotAWorkspace"),
        ("ghost-org", Rejected, "NotAWorkspace"),
        ("missing", Pending, "WorkspaceNotFound"),
        ("sales", Rejected, "SelfShare"),
    ];
    for (target, state, reason) in cases {
        let plan = plan_one(&snapshot(
            vec![workflow(false, None)],
            vec![share("s", &[target], false)],
        ));
        assert_eq!(
            states(&plan),
            vec![(target.to_string(), state, reason.to_string())],
            "target {target}"
        );
        assert_eq!(
            plan.shared_workflows.len(),
            usize::from(state == Active),
            "target {target}"
        );
    }
}

#[test]
fn workflow_condition_table() {
    use GrantState::*;
    // (archived, own de-identification, expected state, reason); org default is true.
    let cases = [
        (false, None, Active, "Granted"),
        (false, Some(true), Active, "Granted"),
        (false, Some(false), Suspended, "DeidentificationRequired"),
        (true, None, Suspended, "WorkflowArchived"),
        (true, Some(false), Suspended, "WorkflowArchived"),
    ];
    for (archived, deid, state, reason) in cases {
        let plan = plan_one(&snapshot(
            vec![workflow(archived, deid)],
            vec![share("s", &["support"], false)],
        ));
        assert_eq!(
            states(&plan),
            vec![("support".to_string(), state, reason.to_string())],
            "{archived} {deid:?}"
        );
        assert_eq!(
            plan.rbac.is_some(),
            state == Active,
            "RBAC only while active"
        );
    }
}

#[test]
fn missing_workflow_grants_nothing() {
    let plan = plan_one(&snapshot(vec![], vec![share("s", &["support"], false)]));
    assert_eq!(
        states(&plan),
        vec![(
            "support".into(),
            GrantState::Pending,
            "WorkflowNotFound".into()
        )]
    );
    assert!(plan.shared_workflows.is_empty() && plan.rbac.is_none());
}

#[test]
fn org_wide_and_explicit_scopes_combine() {
    let plan = plan_one(&snapshot(
        vec![workflow(false, None)],
        vec![share("s", &["support"], true)],
    ));
    let grants = &plan.shares[0].status.grants;
    let via: Vec<(&str, Vec<GrantVia>)> = grants
        .iter()
        .map(|g| (g.workspace.as_str(), g.via.clone()))
        .collect();
    assert_eq!(
        via,
        vec![
            ("finance", vec![GrantVia::Organization]),
            ("support", vec![GrantVia::Explicit, GrantVia::Organization])
        ],
        "owner and other organizations excluded"
    );
    assert_eq!(plan.active_workspaces(), vec!["finance", "support"]);
}

#[test]
fn recipients_are_members_and_service_accounts() {
    let plan = plan_one(&snapshot(
        vec![workflow(false, None)],
        vec![share("s", &["support"], false)],
    ));
    let subjects = subject_names(&plan);
    assert_eq!(
        subjects,
        vec![
            "Group:system:serviceaccounts:support",
            "User:carol",
            "User:dave"
        ]
    );
}

#[test]
fn run_access_grants_no_rbac() {
    let mut s = share("s", &["support"], false);
    s.spec.access = Access::Run;
    let plan = plan_one(&snapshot(vec![workflow(false, None)], vec![s]));
    assert_eq!(plan.shared_workflows.len(), 1);
    assert!(plan.rbac.is_none());
}

#[test]
fn notification_is_asked_once_and_remembered_across_suspension() {
    let snap = snapshot(
        vec![workflow(false, None)],
        vec![
            share("a", &["support"], false),
            share("b", &["support"], false),
        ],
    );
    let plan = plan_one(&snap);
    let asks: Vec<(&str, &Vec<String>)> = plan
        .shares
        .iter()
        .map(|s| (s.name.as_str(), &s.notify))
        .collect();
    assert_eq!(
        asks,
        vec![("a", &vec!["support".to_string()]), ("b", &vec![])],
        "one share notifies"
    );

    // Once recorded, archival keeps the record and restoration asks for nothing.
    let mut recorded = share("a", &["support"], false);
    recorded.status = Some(WorkflowShareStatus {
        grants: vec![WorkspaceGrant {
            workspace: "support".into(),
            state: GrantState::Active,
            notified_at: Some("t0".into()),
            granted_at: Some("t0".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    let archived = plan_one(&snapshot(
        vec![workflow(true, None)],
        vec![recorded.clone()],
    ));
    assert_eq!(
        archived.shares[0].status.grants[0].notified_at.as_deref(),
        Some("t0")
    );
    let restored = plan_one(&snapshot(vec![workflow(false, None)], vec![recorded]));
    assert!(restored.shares[0].notify.is_empty());

    // Revoked (no entry) then granted again: notify again.
    let regranted = plan_one(&snapshot(
        vec![workflow(false, None)],
        vec![share("a", &["support"], false)],
    ));
    assert_eq!(regranted.shares[0].notify, vec!["support".to_string()]);
}

#[test]
fn deleting_shares_grant_nothing() {
    let mut s = share("s", &["support"], false);
    s.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        jiff::Timestamp::UNIX_EPOCH,
    ));
    let plan = plan_one(&snapshot(vec![workflow(false, None)], vec![s]));
    assert!(plan.shared_workflows.is_empty() && plan.rbac.is_none() && plan.shares.is_empty());
}

#[test]
fn named_people_are_granted_with_the_workflow_and_suspended_with_it() {
    let mut s = share("s", &[], false);
    s.spec.people = Some(People {
        users: vec!["frank".into()],
        groups: vec!["auditors".into()],
    });
    let plan = plan_one(&snapshot_with_people(
        vec![workflow(false, None)],
        vec![s.clone()],
    ));
    let people: Vec<(String, String, GrantState)> = plan.shares[0]
        .status
        .people
        .iter()
        .map(|p| (p.kind.clone(), p.name.clone(), p.state))
        .collect();
    assert_eq!(
        people,
        vec![
            ("User".into(), "frank".into(), GrantState::Active),
            ("Group".into(), "auditors".into(), GrantState::Active)
        ]
    );
    let subjects = subject_names(&plan);
    assert_eq!(subjects, vec!["Group:auditors", "User:frank"]);

    let archived = plan_one(&snapshot_with_people(vec![workflow(true, None)], vec![s]));
    assert!(
        archived.shares[0]
            .status
            .people
            .iter()
            .all(|p| p.state == GrantState::Suspended)
    );
    assert!(archived.rbac.is_none());
}

/// Every combination of scope × target organization × membership × archival ×
/// de-identification, checked against the rules of SPEC §5 written out plainly.
#[test]
fn cartesian_scopes_membership_archival_deidentification_boundaries() {
    let mut checked = 0;
    for explicit in [false, true] {
        for org_wide in [false, true] {
            for target in ["support", "elsewhere"] {
                for with_member in [false, true] {
                    for archived in [false, true] {
                        for deid in [None, Some(true), Some(false)] {
                            let workspaces: &[&str] = if explicit { &[target] } else { &[] };
                            let mut snap = snapshot(
                                vec![workflow(archived, deid)],
                                vec![share("s", workspaces, org_wide)],
                            );
                            if !with_member {
                                snap.role_bindings.clear();
                            }
                            let plan = plan_one(&snap);
                            let grant = plan.shares[0]
                                .status
                                .grants
                                .iter()
                                .find(|g| g.workspace == target);

                            // The rules: a target is considered when listed, or org-wide and in the
                            // owner's organization; another organization is rejected; availability
                            // then depends on archival, then on effective de-identification
                            // (organization default: true).
                            let considered = explicit || (org_wide && target == "support");
                            let expected = if !considered {
                                None
                            } else if target == "elsewhere" {
                                Some((GrantState::Rejected, "OtherOrganization"))
                            } else if archived {
                                Some((GrantState::Suspended, "WorkflowArchived"))
                            } else if deid == Some(false) {
                                Some((GrantState::Suspended, "DeidentificationRequired"))
                            } else {
                                Some((GrantState::Active, "Granted"))
                            };
                            let case = format!(
                                "explicit={explicit} org_wide={org_wide} target={target} member={with_member} archived={archived} deid={deid:?}"
                            );
                            assert_eq!(
                                grant.map(|g| (g.state, g.reason.as_str())),
                                expected,
                                "{case}"
                            );

                            let available = !archived && deid != Some(false);
                            let active = expected.is_some_and(|(s, _)| s == GrantState::Active);
                            // dave is a member of support, which org-wide shares always reach.
                            let support_active =
                                available && ((explicit && target == "support") || org_wide);
                            let entry = plan.shared_workflows.iter().any(|s| s.workspace == target);
                            assert_eq!(
                                entry, active,
                                "SharedWorkflow exactly while active: {case}"
                            );
                            let subjects = reader_names(&snap, &plan);
                            assert_eq!(
                                subjects.contains(&"User:dave".to_string()),
                                support_active && with_member,
                                "member access: {case}"
                            );
                            assert_eq!(
                                subjects
                                    .contains(&format!("Group:system:serviceaccounts:{target}")),
                                active,
                                "service accounts: {case}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 2 * 2 * 2 * 2 * 2 * 3);
}

fn created_by(mut w: Workflow, user: &str) -> Workflow {
    w.metadata.annotations =
        Some([(crate::labels::CREATED_BY.to_string(), user.to_string())].into());
    w
}

fn tier(plan: &WorkflowPlan) -> Option<Tier> {
    plan.workflow_status.as_ref().and_then(|s| s.tier)
}

#[test]
fn a_new_workflow_is_private_and_only_its_creator_edits_and_shares_it() {
    let wf = created_by(workflow(false, None), "bob");
    let plan = plan_one(&snapshot(vec![wf], vec![]));
    assert_eq!(tier(&plan), Some(Tier::Private));
    assert!(plan.rbac.is_none(), "nobody else reads it");
    let creator = plan.creator_rbac.expect("creator grant");
    assert_eq!(creator.name, "workflow-share-creator.wf");
    assert_eq!(
        creator.verbs,
        ["get", "watch", "update", "patch", "delete", "share"]
    );
    assert_eq!(creator.subjects.len(), 1);
    assert_eq!(creator.subjects[0].name, "bob");
}

/// A group binding of `group` to `cluster_role` in `ns`.
fn group_binding(ns: &str, cluster_role: &str, group: &str) -> RoleBinding {
    let mut b = binding(ns, cluster_role, group);
    if let Some(subjects) = b.subjects.as_mut() {
        subjects[0].kind = "Group".into();
    }
    b
}

#[test]
fn a_creator_holds_their_grant_only_while_a_member_of_the_workspace() {
    let wf = created_by(workflow(false, None), "bob");
    let mut left = snapshot(vec![wf.clone()], vec![]);
    left.role_bindings
        .retain(|b| b.metadata.name.as_deref() != Some("ws-member-bob"));
    assert!(
        plan_one(&left).creator_rbac.is_none(),
        "a creator who left keeps no rights on what they made"
    );

    // Bound through a group stamped at creation: a member while the group is bound.
    let mut through_group = wf.clone();
    through_group
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(
            crate::labels::CREATED_BY_GROUPS.to_string(),
            "system:authenticated\néquipe-ventes".into(),
        );
    let mut snap = snapshot(vec![through_group.clone()], vec![]);
    snap.role_bindings
        .retain(|b| b.metadata.name.as_deref() != Some("ws-member-bob"));
    snap.role_bindings
        .push(group_binding("sales", "ws-member", "équipe-ventes"));
    let creator = plan_one(&snap)
        .creator_rbac
        .expect("member through a group");
    assert_eq!(creator.subjects[0].name, "bob");
    snap.role_bindings.pop();
    assert!(
        plan_one(&snap).creator_rbac.is_none(),
        "a group no longer bound in the workspace grants no creator rights"
    );
    snap.role_bindings
        .push(group_binding("support", "ws-member", "équipe-ventes"));
    assert!(
        plan_one(&snap).creator_rbac.is_none(),
        "bound in another workspace is not a member of this one"
    );
}

#[test]
fn a_share_says_which_object_it_grants_and_whether_it_came_after_the_share() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    let at = |s: &str| Some(Time(s.parse().expect("timestamp")));
    let mut wf = created_by(workflow(false, None), "grace");
    wf.metadata.uid = Some("uid-2".into());
    wf.metadata.creation_timestamp = at("2026-12-04T10:00:05Z");
    let mut s = share("s", &["support"], false);
    s.metadata.creation_timestamp = at("2026-12-04T10:00:00Z");
    let plan = plan_one(&snapshot(vec![wf.clone()], vec![s.clone()]));
    let object = plan.shares[0].status.object.clone().expect("object");
    assert_eq!(object.uid, "uid-2");
    assert_eq!(object.creator.as_deref(), Some("grace"));
    assert!(
        object.created_after_share,
        "the share was written for an earlier workflow"
    );

    wf.metadata.creation_timestamp = at("2026-12-04T09:00:00Z");
    let plan = plan_one(&snapshot(vec![wf.clone()], vec![s.clone()]));
    let object = plan.shares[0].status.object.clone().expect("object");
    assert!(!object.created_after_share);

    // Created in the same second as the share, but the share recorded another one.
    wf.metadata.creation_timestamp = at("2026-12-04T10:00:00Z");
    s.status = Some(WorkflowShareStatus {
        object: Some(GrantedObject {
            uid: "uid-1".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    let plan = plan_one(&snapshot(vec![wf.clone()], vec![s.clone()]));
    let object = plan.shares[0].status.object.clone().expect("object");
    assert!(
        object.created_after_share,
        "another UID was recorded before"
    );
    s.status = plan.shares[0].status.clone().into();
    let plan = plan_one(&snapshot(vec![wf], vec![s]));
    assert!(
        plan.shares[0]
            .status
            .object
            .as_ref()
            .is_some_and(|o| o.created_after_share),
        "and it stays said"
    );
}

#[test]
fn while_no_object_of_its_name_exists_a_share_keeps_the_one_it_granted_last() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    let at = |s: &str| Some(Time(s.parse().expect("timestamp")));
    let mut s = share("s", &["support"], false);
    s.metadata.creation_timestamp = at("2026-12-04T10:00:00Z");
    let recorded = GrantedObject {
        uid: "uid-1".into(),
        creator: Some("bob".into()),
        created_after_share: false,
    };
    s.status = Some(WorkflowShareStatus {
        object: Some(recorded.clone()),
        ..Default::default()
    });
    let gone = plan_one(&snapshot(vec![], vec![s.clone()]));
    assert_eq!(gone.shares[0].status.object, Some(recorded));

    // Then someone makes another of that name, in the very second of the share.
    s.status = gone.shares[0].status.clone().into();
    let mut wf = created_by(workflow(false, None), "grace");
    wf.metadata.uid = Some("uid-2".into());
    wf.metadata.creation_timestamp = at("2026-12-04T10:00:00Z");
    let plan = plan_one(&snapshot(vec![wf], vec![s]));
    let object = plan.shares[0].status.object.clone().expect("object");
    assert_eq!(object.uid, "uid-2");
    assert!(object.created_after_share, "known from the UID kept");
}

#[test]
fn the_access_a_workspace_holds_is_the_active_grant_only() {
    let wf = workflow(false, None);
    let plan = plan_one(&snapshot(
        vec![wf.clone()],
        vec![share("s", &["support"], false)],
    ));
    assert_eq!(plan.access_of("support"), Some(Access::View));
    assert_eq!(plan.access_of("finance"), None, "never granted");
    let plan = plan_one(&snapshot(
        vec![workflow(true, None)],
        vec![share("s", &["support"], false)],
    ));
    assert_eq!(plan.access_of("support"), None, "archived");
    let mut revoked = share("s", &["support"], false);
    revoked.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-12-04T10:00:00Z".parse().expect("timestamp"),
        ));
    let plan = plan_one(&snapshot(vec![wf], vec![revoked]));
    assert_eq!(
        plan.access_of("support"),
        None,
        "a share being deleted grants nothing"
    );
}

#[test]
fn people_outside_the_organization_are_rejected_one_by_one() {
    let mut s = share("s", &[], false);
    s.spec.people = Some(People {
        users: vec![
            "frank".into(),
            "mallory".into(),
            "nobody".into(),
            "system:serviceaccount:support:robot".into(),
            "system:serviceaccount:elsewhere:robot".into(),
        ],
        groups: vec![
            "auditors".into(),
            "system:authenticated".into(),
            "system:serviceaccounts:finance".into(),
            "system:serviceaccounts".into(),
        ],
    });
    let plan = plan_one(&snapshot_with_people(
        vec![workflow(false, None)],
        vec![s.clone()],
    ));
    let states: Vec<(String, String)> = plan.shares[0]
        .status
        .people
        .iter()
        .map(|p| (p.name.clone(), p.reason.clone()))
        .collect();
    let reason = |name: &str| {
        states
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.as_str())
            .unwrap_or("missing")
    };
    assert_eq!(
        reason("frank"),
        "Granted",
        "a member of another workspace of acme"
    );
    assert_eq!(
        reason("auditors"),
        "Granted",
        "a group bound in a workspace of acme"
    );
    assert_eq!(reason("system:serviceaccount:support:robot"), "Granted");
    assert_eq!(reason("system:serviceaccounts:finance"), "Granted");
    for outside in [
        "mallory",
        "nobody",
        "system:serviceaccount:elsewhere:robot",
        "system:authenticated",
        "system:serviceaccounts",
    ] {
        assert_eq!(reason(outside), "NotInOrganization", "{outside}");
    }
    let subjects = subject_names(&plan);
    assert!(
        !subjects
            .iter()
            .any(|s| s.contains("mallory") || s.contains("system:authenticated"))
    );

    // Someone who joins is granted; the owner outside any organization grants nobody.
    let mut snap = snapshot_with_people(vec![workflow(false, None)], vec![s]);
    snap.role_bindings
        .push(binding("support", "ws-member", "mallory"));
    assert!(subject_names(&plan_one(&snap)).contains(&"User:mallory".to_string()));
    snap.namespaces[0] = ns("sales", None);
    assert!(plan_one(&snap).rbac.is_none());
}

#[test]
fn an_organization_wide_share_of_a_workspace_in_no_organization_is_not_ready() {
    let cases = [
        (ns("sales", None), "OwnerNotInOrganization", true),
        (ns("sales", Some("nobody")), "OrganizationNotFound", false),
    ];
    for (owner, reason, stalled) in cases {
        let mut snap = snapshot(vec![workflow(false, None)], vec![share("o", &[], true)]);
        snap.namespaces[0] = owner;
        let plan = plan_one(&snap);
        let conditions = &plan.shares[0].status.conditions;
        let ready = conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .expect("Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", reason)
        );
        let stalled_now = conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True");
        assert_eq!(stalled_now, stalled, "{reason}");
    }
    let mut snap = snapshot(vec![workflow(false, None)], vec![share("o", &[], true)]);
    snap.namespaces.remove(0);
    let plan = plan_one(&snap);
    let ready = plan.shares[0]
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(ready.reason, "WorkspaceNotFound", "not seen yet: waiting");
}

#[test]
fn managers_only_organizations_do_not_let_creators_share() {
    let mut snap = snapshot(vec![created_by(workflow(false, None), "bob")], vec![]);
    snap.organizations[0].spec.sharing_policy = SharingPolicy::ManagersOnly;
    let plan = plan_one(&snap);
    let creator = plan.creator_rbac.expect("creator grant");
    assert!(!creator.verbs.iter().any(|v| v == "share"));
    assert!(creator.verbs.iter().any(|v| v == "update"), "still edits");
}

#[test]
fn tiers_follow_what_is_granted() {
    let wf = || created_by(workflow(false, None), "bob");
    let mut people = share("p", &[], false);
    people.spec.people = Some(People {
        users: vec!["Zoë".into()],
        groups: vec![],
    });
    let plan = plan_one(&snapshot_with_people(vec![wf()], vec![people]));
    assert_eq!(tier(&plan), Some(Tier::Shared));
    assert_eq!(subject_names(&plan), ["User:Zoë"]);
    let status = plan.workflow_status.expect("status");
    assert_eq!(status.shared_with, ["User:Zoë"]);
    assert_eq!(status.active_grants, 1);

    let plan = plan_one(&snapshot(vec![wf()], vec![share("w", &["support"], false)]));
    assert_eq!(tier(&plan), Some(Tier::Shared));

    // Organization-wide: the owner's own workspace reads it too.
    let mut snap = snapshot(vec![wf()], vec![share("o", &[], true)]);
    snap.role_bindings
        .push(binding("sales", "ws-member", "grace"));
    let plan = plan_one(&snap);
    assert_eq!(tier(&plan), Some(Tier::Organization));
    assert!(plan.organization_readable);
    assert!(
        plan.rbac.is_none(),
        "the organization readers grant covers everyone"
    );
    let subjects = reader_names(&snap, &plan);
    assert!(subjects.contains(&"User:grace".to_string()), "{subjects:?}");
    assert!(subjects.contains(&"Group:system:serviceaccounts:sales".to_string()));
    assert!(subjects.contains(&"User:dave".to_string()));

    // Archived: nothing granted, back to private.
    let mut archived = snapshot(
        vec![created_by(workflow(true, None), "bob")],
        vec![share("o", &[], true)],
    );
    archived
        .role_bindings
        .push(binding("sales", "ws-member", "grace"));
    let plan = plan_one(&archived);
    assert_eq!(tier(&plan), Some(Tier::Private));
    assert!(plan.rbac.is_none());
    assert!(plan.creator_rbac.is_some(), "the creator keeps it");
}

#[test]
fn a_share_whose_author_may_not_share_grants_nothing() {
    let wf = created_by(workflow(false, None), "bob");
    let mut s = share("s", &["support"], false);
    s.metadata.annotations =
        Some([(crate::labels::CREATED_BY.to_string(), "grace".to_string())].into());
    s.spec.people = Some(People {
        users: vec!["Zoë".into()],
        groups: vec![],
    });
    let snap = snapshot(vec![wf.clone()], vec![s.clone()]);
    let unauthorized = ["s".to_string()].into();
    let plan = plan_workflow(
        &snap.directory(),
        "sales",
        "wf",
        Some(&wf),
        &[&s],
        &unauthorized,
        "2026-01-01T00:00:00Z",
    );
    assert!(plan.shared_workflows.is_empty());
    assert!(plan.rbac.is_none());
    assert!(
        plan.creator_rbac.is_some(),
        "the creator keeps the workflow"
    );
    assert_eq!(tier(&plan), Some(Tier::Private));
    let status = &plan.shares[0].status;
    assert_eq!(status.grants[0].state, GrantState::Rejected);
    assert_eq!(status.grants[0].reason, "SharerNotAllowed");
    assert_eq!(status.people[0].state, GrantState::Rejected);
    let ready = &status.conditions[0];
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "SharerNotAllowed")
    );
    assert!(ready.message.contains("grace may not share workflow wf"));
    assert!(plan.shares[0].notify.is_empty());
}

#[test]
fn settling_folds_conflicts_and_notifications_into_status() {
    let wf = created_by(workflow(false, None), "bob");
    let mut s = share("s", &["support", "finance"], false);
    s.metadata.annotations =
        Some([(crate::labels::CREATED_BY.to_string(), "bob".to_string())].into());
    let mut plan = plan_one(&snapshot(vec![wf], vec![s]));
    assert_eq!(plan.shares[0].notify, ["finance", "support"]);
    let applied = Applied {
        uids: [("support".to_string(), "uid-s".to_string())].into(),
        conflicts: ["finance".to_string()].into(),
        blocked_rbac: Some("workflow-share.wf".into()),
    };
    let sent = settle(&mut plan, &applied, "2026-01-02T00:00:00Z");
    assert_eq!(
        sent,
        [Notification {
            workspace: "support".into(),
            shared_workflow_uid: "uid-s".into(),
            shared_by: Some("bob".into()),
        }]
    );
    let status = &plan.shares[0].status;
    let finance = status
        .grants
        .iter()
        .find(|g| g.workspace == "finance")
        .expect("finance");
    assert_eq!(
        (finance.state, finance.reason.as_str()),
        (GrantState::Pending, "Conflict")
    );
    assert!(finance.notified_at.is_none());
    let support = status
        .grants
        .iter()
        .find(|g| g.workspace == "support")
        .expect("support");
    assert_eq!(support.notified_at.as_deref(), Some("2026-01-02T00:00:00Z"));
    assert_eq!(status.active_grants, 1);
    let ready = &status.conditions[0];
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "Conflict")
    );
    assert!(ready.message.contains("workflow-share.wf"));
}

#[test]
fn organization_readable_needs_an_allowed_view_share_of_the_whole_organization() {
    let wf = created_by(workflow(false, None), "bob");
    let view = share("o", &[], true);
    let mut run = share("r", &[], true);
    run.spec.access = Access::Run;
    let explicit = share("e", &["support"], false);
    let cases: Vec<(&str, Vec<WorkflowShare>, BTreeSet<String>, bool)> = vec![
        ("org-wide view", vec![view.clone()], BTreeSet::new(), true),
        ("org-wide run", vec![run.clone()], BTreeSet::new(), false),
        (
            "explicit only",
            vec![explicit.clone()],
            BTreeSet::new(),
            false,
        ),
        ("view + run", vec![view.clone(), run], BTreeSet::new(), true),
        (
            "author may not share",
            vec![view.clone()],
            ["o".to_string()].into(),
            false,
        ),
    ];
    for (case, shares, unauthorized, readable) in cases {
        let snap = snapshot(vec![wf.clone()], shares.clone());
        let refs: Vec<&WorkflowShare> = shares.iter().collect();
        let plan = plan_workflow(
            &snap.directory(),
            "sales",
            "wf",
            Some(&wf),
            &refs,
            &unauthorized,
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(plan.organization_readable, readable, "{case}");
        if !readable && case == "author may not share" {
            assert_eq!(tier(&plan), Some(Tier::Private), "{case}: grants nothing");
        }
    }
    // Archived or not de-identified: nobody but the creator.
    for wf in [workflow(true, None), workflow(false, Some(false))] {
        let plan = plan_one(&snapshot(vec![wf], vec![view.clone()]));
        assert!(!plan.organization_readable);
    }
}

#[test]
fn the_organization_readers_grant_lists_its_workflows_for_every_member_of_the_organization() {
    let mut snap = snapshot(vec![], vec![]);
    snap.namespaces.push(ns("ventes-été", Some("acme")));
    snap.role_bindings
        .push(binding("ventes-été", "ws-member", "zoë"));
    snap.role_bindings
        .push(binding("elsewhere", "ws-member", "mallory"));
    let directory = snap.directory();
    let grant = plan_organization_readers(
        &directory,
        "sales",
        ["qualification-des-leads-✓", "forecast", "forecast"],
    )
    .expect("a grant");
    assert_eq!(grant.name, "workflow-share-organization-readers");
    assert_eq!(grant.resource, "workflows");
    assert_eq!(grant.objects, ["forecast", "qualification-des-leads-✓"]);
    assert_eq!(grant.verbs, ["get", "watch"]);
    let subjects: Vec<String> = grant
        .subjects
        .iter()
        .map(|m| format!("{}:{}", m.kind, m.name))
        .collect();
    assert_eq!(
        subjects,
        [
            "Group:system:serviceaccounts:finance",
            "Group:system:serviceaccounts:sales",
            "Group:system:serviceaccounts:support",
            "Group:system:serviceaccounts:ventes-été",
            "User:bob",
            "User:carol",
            "User:dave",
            "User:zoë",
        ],
        "the owner's own workspace included, another organization's members not"
    );

    assert!(plan_organization_readers(&directory, "sales", []).is_none());
    assert!(plan_organization_readers(&directory, "plain", ["wf"]).is_none());
    assert!(plan_organization_readers(&directory, "nowhere", ["wf"]).is_none());
}

#[test]
fn offline_plans_show_one_organization_readers_grant_per_owner_workspace() {
    let wf = created_by(workflow(false, None), "bob");
    let mut other = wf.clone();
    other.metadata.name = Some("autre".into());
    let mut share_other = share("a", &[], true);
    share_other.spec.workflow_ref.name = "autre".into();
    let private = {
        let mut w = wf.clone();
        w.metadata.name = Some("privé".into());
        w
    };
    let snap = snapshot(
        vec![wf, other, private],
        vec![share("o", &[], true), share_other],
    );
    let plans = snap.plan_all("2026-01-01T00:00:00Z");
    let readers = organization_readers_of_plans(&snap.directory(), &plans);
    assert_eq!(readers.len(), 1);
    assert_eq!(readers[0].0, "sales");
    assert_eq!(readers[0].1.objects, ["autre", "wf"]);
}

#[test]
fn an_owner_workspace_not_yet_seen_in_its_organization_waits_and_an_unlabelled_one_is_refused() {
    let snap = snapshot(vec![], vec![]);
    let directory = snap.directory();
    for (owner, state, reason) in [
        ("plain", GrantState::Rejected, "OwnerNotInOrganization"),
        ("ghost-org", GrantState::Pending, "OrganizationNotFound"),
        ("not-seen-yet-é", GrantState::Pending, "WorkspaceNotFound"),
    ] {
        let mut wf = workflow(false, None);
        wf.metadata.namespace = Some(owner.into());
        let mut s = share("s", &["support"], false);
        s.metadata.namespace = Some(owner.into());
        let plan = plan_workflow(
            &directory,
            owner,
            "wf",
            Some(&wf),
            &[&s],
            &BTreeSet::new(),
            "2026-01-01T00:00:00Z",
        );
        let grant = &plan.shares[0].status.grants[0];
        assert_eq!(
            (grant.state, grant.reason.as_str()),
            (state, reason),
            "{owner}"
        );
        assert!(plan.shared_workflows.is_empty(), "{owner}");
    }
}
