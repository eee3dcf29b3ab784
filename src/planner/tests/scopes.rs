use super::*;

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
    let two_shares = vec![
        share("a", &["support"], false),
        share("b", &["support"], false),
    ];
    let plan = plan_one(&snapshot(vec![workflow(false, None)], two_shares));
    assert_eq!(
        plan.notify,
        ["support"],
        "one notification, whichever shares"
    );

    // support's entry exists, stamped at or before the workflow's mark: notified.
    let notified = |archived: bool| {
        let mut wf = workflow(archived, None);
        wf.status = Some(WorkflowStatus {
            notified_through: Some("2026-01-01T00:00:00.000000Z".into()),
            ..Default::default()
        });
        wf
    };
    let entry = |at: &str, suspended: bool| {
        BTreeMap::from([(
            "support".to_string(),
            ExistingEntry {
                granted_at: Some(at.into()),
                suspended,
            },
        )])
    };
    let at_mark = "2026-01-01T00:00:00.000000Z";
    let one = || vec![share("a", &["support"], false)];
    let nobody = BTreeSet::new();

    // Archived: the entry stays, marked suspended, and grants nothing.
    let archived = plan_with(
        &snapshot(vec![notified(true)], one()),
        &entry(at_mark, false),
        &nobody,
    );
    let kept = &archived.shared_workflows[0];
    assert_eq!(kept.spec.suspended.as_deref(), Some("WorkflowArchived"));
    assert_eq!(
        kept.granted_at.as_deref(),
        Some(at_mark),
        "its stamp is kept"
    );
    assert_eq!(archived.access_of("support"), None);
    assert!(archived.active_workspaces().is_empty());
    assert!(archived.rbac.is_none() && !archived.organization_readable);
    assert!(archived.notify.is_empty());
    assert_eq!(
        archived.shares[0].status.grants[0].granted_at.as_deref(),
        Some(at_mark)
    );

    // Restored: the same entry, active again, and nobody is notified again.
    let restored = plan_with(
        &snapshot(vec![notified(false)], one()),
        &entry(at_mark, true),
        &nobody,
    );
    assert_eq!(restored.shared_workflows[0].spec.suspended, None);
    assert_eq!(restored.access_of("support"), Some(Access::View));
    assert!(restored.notify.is_empty());

    // Made, but the controller stopped before notifying: stamped after the mark.
    let unsent = plan_with(
        &snapshot(vec![notified(false)], one()),
        &entry("2026-01-01T00:00:00.000001Z", false),
        &nobody,
    );
    assert_eq!(unsent.notify, ["support"]);

    // Revoked (its entry gone) then granted again: a new stamp after the mark.
    let regranted = plan_with(
        &snapshot(vec![notified(false)], one()),
        &BTreeMap::new(),
        &nobody,
    );
    assert_eq!(regranted.notify, ["support"]);
    assert_eq!(
        regranted.shared_workflows[0].granted_at.as_deref(),
        Some("2026-01-01T00:00:00.000001Z")
    );

    // Suspended with no entry (never granted): none is made.
    let never = plan_with(
        &snapshot(vec![notified(true)], one()),
        &BTreeMap::new(),
        &nobody,
    );
    assert!(never.shared_workflows.is_empty() && never.notify.is_empty());
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
/// de-identification, checked against the sharing rules written out plainly.
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
