use super::*;

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
    let plan = plan_with(&snap, &BTreeMap::new(), &["s".to_string()].into());
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
    assert!(plan.notify.is_empty());
}

#[test]
fn settling_folds_conflicts_and_notifications_into_status() {
    let wf = created_by(workflow(false, None), "bob");
    let mut s = share("s", &["support", "finance"], false);
    s.metadata.annotations =
        Some([(crate::labels::CREATED_BY.to_string(), "bob".to_string())].into());
    let mut plan = plan_one(&snapshot(vec![wf], vec![s]));
    assert_eq!(plan.notify, ["finance", "support"]);
    let stamp = plan.shared_workflows[0].granted_at.clone();
    assert_eq!(stamp.as_deref(), Some("2026-01-01T00:00:00.000000Z"));
    let applied = Applied {
        uids: [("support".to_string(), "uid-s".to_string())].into(),
        conflicts: ["finance".to_string()].into(),
        blocked_rbac: Some("workflow-share.wf".into()),
    };
    let sent = settle(&mut plan, &applied);
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
    assert!(finance.granted_at.is_none());
    // Recorded as sent: support's stamp is the mark now (finance got nothing).
    let through = plan
        .workflow_status
        .as_ref()
        .and_then(|s| s.notified_through.clone());
    assert_eq!(through, stamp);
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
        let plan = plan_with(&snap, &BTreeMap::new(), &unauthorized);
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
        let snap = snapshot(vec![wf], vec![s]);
        let plan = plan_in(&directory, &snap, owner, &BTreeMap::new(), &BTreeSet::new());
        let grant = &plan.shares[0].status.grants[0];
        assert_eq!(
            (grant.state, grant.reason.as_str()),
            (state, reason),
            "{owner}"
        );
        assert!(plan.shared_workflows.is_empty(), "{owner}");
    }
}
