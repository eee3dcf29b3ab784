//! Refusals that say who may, and sharing that follows who may share: an owner who is
//! not the creator, a member sharing what someone else created, the strict sharing
//! policy, the guarded organization join, and a share whose author may no longer
//! share. Each is a real request made with that person's own token. (The access
//! table itself is in `permissions.rs`.)

mod support;

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::*;
use workflow_share::resources::{Workflow, WorkflowShare};

#[tokio::test]
async fn refusals_say_who_may() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let objects = organization("rf-org", &["rf-sales", "rf-support"])
        .and(member("rf-sales", "owner", "bob"))
        .and(member("rf-sales", "member", "alice"))
        .and(member("rf-sales", "member", "grace"));
    apply(&admin, &objects).await.expect("organization");
    let alice = cp.as_user("alice").await;
    apply(&alice, &workflow("rf-sales", "notes"))
        .await
        .expect("alice creates");
    until_known::<Workflow>(&admin, "rf-sales", "notes").await;

    // An owner holds broad RBAC but is not the creator.
    let bob = cp.as_user("bob").await;
    let workflows: Api<Workflow> = Api::namespaced(bob.clone(), "rf-sales");
    let err = workflows
        .patch(
            "notes",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"description": "mine now"}})),
        )
        .await
        .expect_err("owner cannot edit");
    assert!(
        err.to_string()
            .contains("only the creator of workflow notes (alice) may change or delete it"),
        "{err}"
    );

    // A member cannot share what someone else created.
    let grace = cp.as_user("grace").await;
    let err = apply(
        &grace,
        &share("rf-sales", "notes")
            .workflow("notes")
            .to_workspaces(&["rf-support"]),
    )
    .await
    .expect_err("member cannot share");
    assert!(
        err.to_string()
            .contains("grace may not share workflow notes"),
        "{err}"
    );

    // Under the strict policy the creator may not share either; the owner still may.
    let orgs: Api<workflow_share::resources::Organization> = Api::all(admin.clone());
    orgs.patch(
        "rf-org",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"sharingPolicy": "ManagersOnly"}})),
    )
    .await
    .expect("strict policy");
    eventually("creator loses share", WAIT, || async {
        (!can_i(
            &alice,
            "share",
            "sharing.workflows.dev",
            "workflows",
            "rf-sales",
            Some("notes"),
        )
        .await)
            .then_some(())
    })
    .await;
    assert!(
        can_i(
            &bob,
            "share",
            "sharing.workflows.dev",
            "workflows",
            "rf-sales",
            Some("notes")
        )
        .await
    );
    assert!(
        can_i(
            &alice,
            "patch",
            "sharing.workflows.dev",
            "workflows",
            "rf-sales",
            Some("notes")
        )
        .await,
        "still edits"
    );

    // Joining an organization needs the verb join on it, even for someone who may
    // create and edit namespaces.
    let namespace_editor = rule(
        &[""],
        &["namespaces"],
        &["get", "create", "update", "patch"],
    );
    let editor = Objects::of(cluster_role("rf-namespace-editor", vec![namespace_editor]))
        .and(cluster_role_binding("rf-namespace-editor", "rf-namespace-editor").user("frank"));
    apply(&admin, &editor).await.expect("namespace editor");
    let frank = cp.as_user("frank").await;
    let plain = namespace("rf-sneaky").label("team", "x");
    apply(&frank, &plain)
        .await
        .expect("a plain namespace is fine");
    let joined = plain.clone().label(ORGANIZATION_LABEL, "rf-org");
    let err = apply(&frank, &joined).await.expect_err("no join verb");
    assert!(
        err.to_string()
            .contains("requires the verb join on organizations/rf-org"),
        "{err}"
    );
    apply(&frank, &plain.label("team", "y"))
        .await
        .expect("edits that leave the label alone pass");
    let joiner =
        cluster_role_binding("rf-joiner", "workflow-share-organization-joiner").user("frank");
    apply(&admin, &joiner).await.expect("delegate join");
    eventually("frank may join now", WAIT, || async {
        apply(&frank, &joined).await.ok()
    })
    .await;
}

#[tokio::test]
async fn a_share_stops_granting_when_its_author_may_no_longer_share() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("lv-sales", "lv-support");
    let objects = organization("lv-org", &[sales, support])
        .and(member(sales, "member", "alice"))
        .and(member(support, "member", "dave"));
    apply(&admin, &objects).await.expect("organization");
    let alice = cp.as_user("alice").await;
    apply(&alice, &workflow(sales, "digest"))
        .await
        .expect("alice creates");
    eventually("alice may share her workflow", WAIT, || async {
        can_i(
            &alice,
            "share",
            "sharing.workflows.dev",
            "workflows",
            sales,
            Some("digest"),
        )
        .await
        .then_some(())
    })
    .await;
    apply(
        &alice,
        &share(sales, "digest")
            .workflow("digest")
            .to_workspaces(&[support]),
    )
    .await
    .expect("alice shares");
    let dave = cp.as_user("dave").await;
    let dave_reads = || async {
        can_i(
            &dave,
            "get",
            "sharing.workflows.dev",
            "workflows",
            sales,
            Some("digest"),
        )
        .await
    };
    eventually("dave reads the shared workflow", WAIT, || async {
        dave_reads().await.then_some(())
    })
    .await;

    // The organization reserves sharing to owners and managers: alice's share stops.
    let orgs: Api<workflow_share::resources::Organization> = Api::all(admin.clone());
    let policy = |p: &'static str| {
        let orgs = orgs.clone();
        async move {
            orgs.patch(
                "lv-org",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"sharingPolicy": p}})),
            )
            .await
            .expect("policy");
        }
    };
    policy("ManagersOnly").await;
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    eventually(
        "the share is refused and access withdrawn",
        WAIT,
        || async {
            let s = shares.get("digest").await.ok()?.status?;
            let refused = s.grants.iter().all(|g| {
                g.reason == "SharerNotAllowed"
                    && g.state == workflow_share::resources::GrantState::Rejected
            });
            let gone = !entry_exists(&admin, support, "lv-sales.digest").await;
            (refused && gone && !dave_reads().await).then_some(())
        },
    )
    .await;

    // Allowed again: the same share grants again, without anyone touching it.
    policy("CreatorsAndManagers").await;
    eventually("granted again", WAIT, || async {
        (dave_reads().await && entry_exists(&admin, support, "lv-sales.digest").await).then_some(())
    })
    .await;
}
