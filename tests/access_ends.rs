//! Access ends when the product says it ends: each attack a red team made on a live
//! install, replayed as the users who made it, with real requests after the end.
//! The control plane runs kube-controller-manager, so deletion (garbage collector,
//! namespace lifecycle) behaves as in a cluster.

mod support;

use std::time::Duration;

use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::*;
use workflow_share::resources::{
    GrantState, Organization, Project, RunPhase, SharedWorkflow, WorkflowClone, WorkflowShare,
};

const G: &str = "sharing.workflows.dev";

fn original(ns: &str, name: &str) -> Builder<workflow_share::resources::Workflow> {
    workflow(ns, name).steps(&["original"])
}

/// The Ready reason of a clone once the controller has judged it, and whether its
/// target exists a few seconds later.
async fn clone_outcome(admin: &kube::Client, ns: &str, name: &str, target: &str) -> (String, bool) {
    let api: Api<WorkflowClone> = Api::namespaced(admin.clone(), ns);
    let reason = eventually(&format!("clone {name} judged"), WAIT, || async {
        let status = api.get(name).await.ok()?.status?;
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        Some(ready.reason.clone())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let workflows: Api<workflow_share::resources::Workflow> = Api::namespaced(admin.clone(), ns);
    let copied = workflows.get_opt(target).await.expect("get").is_some();
    (reason, copied)
}

async fn share_state(admin: &kube::Client, ns: &str, share: &str) -> Option<(GrantState, String)> {
    let api: Api<WorkflowShare> = Api::namespaced(admin.clone(), ns);
    let status = api.get(share).await.ok()?.status?;
    status
        .grants
        .first()
        .map(|g| (g.state, g.reason.clone()))
        .or_else(|| status.people.first().map(|p| (p.state, p.reason.clone())))
}

#[tokio::test]
async fn a_recipient_cannot_hold_back_a_revocation_and_a_terminating_entry_grants_nothing() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("ae1-sales", "ae1-support");
    let mut objects = organization("ae1-org", &[sales, support])
        .and(member(sales, "owner", "alice"))
        .and(member(support, "member", "dave"))
        .and(member(support, "owner", "carol"));
    objects += original(sales, "lead");
    objects += share(sales, "lead")
        .workflow("lead")
        .to_workspaces(&["ae1-support"]);
    apply(&admin, &objects).await.expect("setup");
    let entry = "ae1-sales.lead";
    eventually("the entry exists", WAIT, || async {
        entry_exists(&admin, support, entry).await.then_some(())
    })
    .await;

    // dave tries to pin his entry with a finalizer, an owner reference, an annotation.
    let dave = cp.as_user("dave").await;
    let entries: Api<SharedWorkflow> = Api::namespaced(dave.clone(), support);
    for (what, patch) in [
        (
            "finalizer",
            json!({"metadata": {"finalizers": ["example.com/keep"]}}),
        ),
        (
            "owner reference",
            json!({"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "00000000-0000-0000-0000-000000000001"}]}}),
        ),
        (
            "annotation",
            json!({"metadata": {"annotations": {"example.com/mine": "yes"}}}),
        ),
    ] {
        let err = entries
            .patch(entry, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect_err(what);
        assert!(
            err.to_string().contains("kept by workflow-share"),
            "{what}: {err}"
        );
    }
    // Enabling stays his to do.
    entries
        .patch(
            entry,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"enabled": true}})),
        )
        .await
        .expect("dave enables the entry");
    apply(
        &dave,
        &workflow_run(support, "before").shared_workflow(entry),
    )
    .await
    .expect("run");
    assert_eq!(
        run_decided(&admin, support, "before").await.0,
        RunPhase::Accepted
    );

    // Something else holds the entry (a break-glass finalizer stands in for any):
    // after the revocation it is Terminating, and it grants nothing.
    let admin_entries: Api<SharedWorkflow> = Api::namespaced(admin.clone(), support);
    admin_entries
        .patch(
            entry,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/keep"]}})),
        )
        .await
        .expect("held by an administrator's finalizer");
    let alice = cp.as_user("alice").await;
    Api::<WorkflowShare>::namespaced(alice.clone(), sales)
        .delete("lead", &DeleteParams::default())
        .await
        .expect("alice revokes");
    eventually("the entry is Terminating", WAIT, || async {
        let sw = admin_entries.get(entry).await.ok()?;
        sw.metadata.deletion_timestamp.is_some().then_some(())
    })
    .await;
    apply(
        &dave,
        &workflow_run(support, "after").shared_workflow(entry),
    )
    .await
    .expect("run");
    let (phase, reason) = run_decided(&admin, support, "after").await;
    assert_eq!(phase, RunPhase::Rejected, "{reason}");
    let carol = cp.as_user("carol").await;
    apply(&carol, &workflow_clone(support, "copy", entry, "my-lead"))
        .await
        .expect("clone request");
    let (outcome, copied) = clone_outcome(&admin, support, "copy", "my-lead").await;
    assert_ne!(outcome, "Cloned");
    assert!(!copied, "nothing copied after the revocation ({outcome})");
    assert!(
        !can_i(&carol, "get", G, "workflows", sales, Some("lead")).await,
        "reads ended"
    );
    admin_entries
        .patch(
            entry,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("released");
}

#[tokio::test]
async fn a_revoked_person_cannot_run_a_moment_later() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let sales = "ae2-sales";
    let objects = organization("ae2-org", &[sales])
        .and(member(sales, "member", "bob"))
        .and(member(sales, "member", "grace"));
    apply(&admin, &objects).await.expect("setup");
    let bob = cp.as_user("bob").await;
    apply(&bob, &original(sales, "forecast"))
        .await
        .expect("bob's workflow");
    until_may(&bob, true, "share", "workflows", sales, Some("forecast")).await;
    apply(
        &bob,
        &share(sales, "with-grace")
            .workflow("forecast")
            .to_users(&["grace"]),
    )
    .await
    .expect("shared with grace");
    let grace = cp.as_user("grace").await;
    until_may(&grace, true, "get", "workflows", sales, Some("forecast")).await;
    apply(&grace, &workflow_run(sales, "g1").workflow("forecast"))
        .await
        .expect("run");
    assert_eq!(run_decided(&admin, sales, "g1").await.0, RunPhase::Accepted);

    Api::<WorkflowShare>::namespaced(bob.clone(), sales)
        .delete("with-grace", &DeleteParams::default())
        .await
        .expect("bob revokes");
    until_may(&grace, false, "get", "workflows", sales, Some("forecast")).await;
    // A trigger she makes now does not fire as her.
    let revoked_at = jiff::Timestamp::now();
    apply(
        &grace,
        &trigger(sales, "after-revocation")
            .workflow("forecast")
            .schedule("* * * * *"),
    )
    .await
    .expect("grace's trigger");
    // Every run from now on is refused, the first one included.
    for n in 2..=4 {
        let name = format!("g{n}");
        apply(&grace, &workflow_run(sales, &name).workflow("forecast"))
            .await
            .expect("run");
        let (phase, reason) = run_decided(&admin, sales, &name).await;
        assert_eq!(phase, RunPhase::Rejected, "run {name}: {reason}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let triggers: Api<workflow_share::resources::Trigger> = Api::namespaced(admin.clone(), sales);
    let outcome = eventually(
        "the trigger's first fire",
        Duration::from_secs(100),
        || async {
            let status = triggers.get("after-revocation").await.ok()?.status?;
            status
                .recent_fires
                .iter()
                .find(|f| {
                    f.scheduled_time
                        .parse::<jiff::Timestamp>()
                        .is_ok_and(|t| t > revoked_at)
                })
                .map(|f| f.outcome.clone())
        },
    )
    .await;
    assert_eq!(outcome, "WorkflowNotVisible", "the fire is refused");
}

#[tokio::test]
async fn deleting_an_object_ends_its_creators_grant_and_the_name_carries_no_access() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("ae3-sales", "ae3-support");
    let objects = organization("ae3-org", &[sales, support])
        .and(member(sales, "member", "bob"))
        .and(member(sales, "member", "grace"))
        .and(member(support, "member", "dave"));
    apply(&admin, &objects).await.expect("setup");
    let bob = cp.as_user("bob").await;

    // Deleted at once: its creator grant goes with it.
    apply(&bob, &original(sales, "tr-gone"))
        .await
        .expect("bob's workflow");
    until_may(&bob, true, "update", "workflows", sales, Some("tr-gone")).await;
    Api::<workflow_share::resources::Workflow>::namespaced(bob.clone(), sales)
        .delete("tr-gone", &DeleteParams::default())
        .await
        .expect("bob deletes it");
    let roles: Api<Role> = Api::namespaced(admin.clone(), sales);
    eventually("the creator grant is gone", WAIT, || async {
        let gone = roles
            .get_opt("workflow-share-creator.tr-gone")
            .await
            .ok()?
            .is_none();
        (gone && !can_i(&bob, "share", G, "workflows", sales, Some("tr-gone")).await).then_some(())
    })
    .await;

    // bob shares a workflow, which is then deleted before the share is recorded on it.
    apply(&bob, &original(sales, "reused"))
        .await
        .expect("bob's workflow");
    until_may(&bob, true, "share", "workflows", sales, Some("reused")).await;
    apply(
        &bob,
        &share(sales, "reused")
            .workflow("reused")
            .to_workspaces(&["ae3-support"]),
    )
    .await
    .expect("bob shares it");
    eventually("support has it", WAIT, || async {
        entry_exists(&admin, support, "ae3-sales.reused")
            .await
            .then_some(())
    })
    .await;
    // The share records which object it granted: a later one of that name is then
    // known for sure to have come after it (not judged from creation seconds).
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    eventually("the share records bob's workflow", WAIT, || async {
        let object = shares.get("reused").await.ok()?.status?.object?;
        (object.creator.as_deref() == Some("bob")).then_some(())
    })
    .await;
    delete_before_the_share_is_recorded(&admin, &bob, sales, "reused").await;

    // grace makes her own private workflow of that name: bob's share grants nothing.
    let grace = cp.as_user("grace").await;
    apply(&grace, &original(sales, "reused"))
        .await
        .expect("grace's workflow");
    eventually(
        "bob's share of the old workflow grants nothing",
        WAIT,
        || async {
            let (state, reason) = share_state(&admin, sales, "reused").await?;
            (state == GrantState::Rejected && reason == "SharerNotAllowed").then_some(())
        },
    )
    .await;
    let api: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    let object = api
        .get("reused")
        .await
        .expect("share")
        .status
        .and_then(|s| s.object)
        .expect("the share says what it grants now");
    assert_eq!(object.creator.as_deref(), Some("grace"));
    assert!(object.created_after_share);
    let dave = cp.as_user("dave").await;
    assert!(!entry_exists(&admin, support, "ae3-sales.reused").await);
    assert!(!can_i(&dave, "get", G, "workflows", sales, Some("reused")).await);
    assert!(!can_i(&bob, "update", G, "workflows", sales, Some("reused")).await);
    assert!(can_i(&grace, "update", G, "workflows", sales, Some("reused")).await);
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), sales);
    let creator = bindings
        .get("workflow-share-creator.reused")
        .await
        .expect("grace's creator grant");
    let subjects: Vec<String> = creator
        .subjects
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(
        subjects,
        ["grace"],
        "a clean grant, no one left from before"
    );
}

#[tokio::test]
async fn a_creator_who_leaves_the_workspace_stops_sharing_and_editing_and_gets_it_back() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("ae4-sales", "ae4-support");
    let objects = organization("ae4-org", &[sales, support])
        .and(member(sales, "member", "bob"))
        .and(member(support, "member", "dave"));
    apply(&admin, &objects).await.expect("setup");
    let bob = cp.as_user("bob").await;
    apply(&bob, &original(sales, "handbook"))
        .await
        .expect("bob's workflow");
    until_may(&bob, true, "share", "workflows", sales, Some("handbook")).await;
    apply(
        &bob,
        &share(sales, "handbook")
            .workflow("handbook")
            .to_workspaces(&["ae4-support"]),
    )
    .await
    .expect("shared");
    let dave = cp.as_user("dave").await;
    until_may(&dave, true, "get", "workflows", sales, Some("handbook")).await;

    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), sales);
    bindings
        .delete("member-bob", &DeleteParams::default())
        .await
        .expect("bob leaves sales");
    eventually("bob's share stops granting", WAIT, || async {
        let (state, reason) = share_state(&admin, sales, "handbook").await?;
        (state == GrantState::Rejected && reason == "SharerNotAllowed").then_some(())
    })
    .await;
    assert!(!can_i(&dave, "get", G, "workflows", sales, Some("handbook")).await);
    assert!(!entry_exists(&admin, support, "ae4-sales.handbook").await);
    let err = Api::<workflow_share::resources::Workflow>::namespaced(bob.clone(), sales)
        .patch(
            "handbook",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"description": "after leaving"}})),
        )
        .await
        .expect_err("bob can no longer edit");
    assert!(err.to_string().contains("forbidden"), "{err}");

    // Rejoining restores the share as declared: nothing was changed in the specs.
    apply(&admin, &member(sales, "member", "bob"))
        .await
        .expect("bob rejoins");
    eventually("the share grants again", WAIT, || async {
        let (state, _) = share_state(&admin, sales, "handbook").await?;
        (state == GrantState::Active).then_some(())
    })
    .await;
    assert!(can_i(&dave, "get", G, "workflows", sales, Some("handbook")).await);
}

#[tokio::test]
async fn a_deleted_project_leaves_no_grant_and_its_name_can_be_used_again() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let sales = "ae5-sales";
    let objects = organization("ae5-org", &[sales])
        .and(member(sales, "member", "bob"))
        .and(member(sales, "member", "grace"))
        .and(member(sales, "member", "yann"));
    apply(&admin, &objects).await.expect("setup");
    let bob = cp.as_user("bob").await;
    let roadmap = project(sales, "roadmap").display_name("Roadmap");
    apply(&bob, &roadmap).await.expect("bob's project");
    until_may(&bob, true, "share", "projects", sales, Some("roadmap")).await;
    apply(
        &bob,
        &share(sales, "roadmap")
            .project("roadmap")
            .to_users(&["yann"]),
    )
    .await
    .expect("shared with yann");
    let yann = cp.impersonating("yann", &[]).await;
    until_may(&yann, true, "get", "projects", sales, Some("roadmap")).await;
    Api::<Project>::namespaced(bob.clone(), sales)
        .delete("roadmap", &DeleteParams::default())
        .await
        .expect("bob deletes it");
    let roles: Api<Role> = Api::namespaced(admin.clone(), sales);
    eventually("its grants are gone", WAIT, || async {
        let left = roles.list(&Default::default()).await.ok()?;
        (!left.items.iter().any(|r| {
            r.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.contains("project"))
        }))
        .then_some(())
    })
    .await;

    // grace makes a project of the same name: hers alone, at once.
    let grace = cp.as_user("grace").await;
    apply(&grace, &roadmap).await.expect("grace's project");
    until_may(&grace, true, "update", "projects", sales, Some("roadmap")).await;
    assert!(!can_i(&bob, "get", G, "projects", sales, Some("roadmap")).await);
    // bob's share names the project, and bob may not share grace's.
    until_may(&yann, false, "get", "projects", sales, Some("roadmap")).await;
    let failures = events_about(&admin, sales, "WriteRefused", "roadmap").await;
    assert!(failures.is_empty(), "no refused writes: {failures:?}");
}

#[tokio::test]
async fn a_deleted_organization_takes_its_auditors_and_coordinators_with_it() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let sales = "ae6-sales";
    let objects = organization("ae6-org", &[sales])
        .auditor("audrey")
        .coordinator("cora")
        .and(member(sales, "member", "bob"));
    apply(&admin, &objects).await.expect("setup");
    let bob = cp.as_user("bob").await;
    apply(&bob, &original(sales, "private"))
        .await
        .expect("bob's workflow");
    let audrey = cp.impersonating("audrey", &[]).await;
    let cora = cp.impersonating("cora", &[]).await;
    eventually("the audit view and the coordinator hold", WAIT, || async {
        (can_i(&audrey, "list", G, "workflows", sales, None).await
            && can_i(&cora, "share", G, "workflows", sales, Some("private")).await)
            .then_some(())
    })
    .await;
    Api::<Organization>::all(admin.clone())
        .delete("ae6-org", &DeleteParams::default())
        .await
        .expect("organization deleted");
    eventually("their bindings are gone", WAIT, || async {
        (!can_i(&audrey, "list", G, "workflows", sales, None).await
            && !can_i(&cora, "share", G, "workflows", sales, Some("private")).await
            && !can_i(&cora, "get", G, "workflows", sales, Some("private")).await)
            .then_some(())
    })
    .await;
}
