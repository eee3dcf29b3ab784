use super::*;

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
