//! The controller is nobody's deputy: it changes or deletes only what it can prove it
//! made. Owner references and annotations anyone with `patch` can write are not proof;
//! the `managed-by` label only the controller may set is.

mod support;

use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::*;
use workflow_share::resources::{Trigger, Workflow, WorkflowClone, WorkflowRun};

const G: &str = "sharing.workflows.dev";

#[tokio::test]
async fn a_triggers_history_pruning_never_deletes_a_run_it_did_not_make() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let sales = "nd1-sales";
    let objects = organization("nd1-org", &[sales])
        .and(member(sales, "member", "alice"))
        .and(member(sales, "member", "bob"))
        .and(member(sales, "member", "grace"));
    apply(&admin, &objects).await.expect("setup");
    let bob = cp.as_user("bob").await;
    let nightly = workflow(sales, "nightly").display_name("Nightly").and(
        trigger(sales, "every-minute")
            .workflow("nightly")
            .schedule("* * * * *")
            .history_limit(1),
    );
    apply(&bob, &nightly).await.expect("bob's trigger");
    let alice = cp.as_user("alice").await;
    let mine = workflow(sales, "mine")
        .display_name("Mine")
        .and(workflow_run(sales, "alices-run").workflow("mine"));
    apply(&alice, &mine).await.expect("alice's run");

    // grace, who may patch runs but not delete them, hands alice's run to bob's trigger.
    let triggers: Api<Trigger> = Api::namespaced(admin.clone(), sales);
    let trigger = triggers.get("every-minute").await.expect("trigger");
    let uid = trigger.metadata.uid.clone().expect("uid");
    let grace = cp.as_user("grace").await;
    assert!(
        !can_i(
            &grace,
            "delete",
            G,
            "workflowruns",
            sales,
            Some("alices-run")
        )
        .await
    );
    Api::<WorkflowRun>::namespaced(grace.clone(), sales)
        .patch(
            "alices-run",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"ownerReferences": [{
                "apiVersion": "sharing.workflows.dev/v1alpha1", "kind": "Trigger",
                "name": "every-minute", "uid": uid}]}})),
        )
        .await
        .expect("grace may patch runs");

    // Two fires with a history of one: the trigger prunes its own first run.
    let runs: Api<WorkflowRun> = Api::namespaced(admin.clone(), sales);
    let own_runs = || async {
        let mut names: Vec<String> = runs
            .list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter(|r| r.spec.trigger_ref.as_deref() == Some("every-minute"))
            .filter_map(|r| r.metadata.name)
            .collect();
        names.sort();
        Some(names)
    };
    let first = eventually("the first fire", Duration::from_secs(90), || async {
        own_runs().await?.first().cloned()
    })
    .await;
    // The second fire prunes the first of its own runs (a history of one).
    eventually(
        "the second fire, the first pruned",
        Duration::from_secs(90),
        || async {
            let names = own_runs().await?;
            (names.len() == 1 && names[0] != first).then_some(())
        },
    )
    .await;
    assert!(
        runs.get_opt("alices-run").await.expect("get").is_some(),
        "alice's run survives the pruning"
    );
}

#[tokio::test]
async fn a_clone_never_reports_success_over_a_target_someone_else_made() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("nd2-sales", "nd2-support");
    let objects = organization("nd2-org", &[sales, support])
        .and(member(sales, "owner", "alice"))
        .and(member(support, "owner", "carol"))
        .and(member(support, "member", "dave"));
    apply(&admin, &objects).await.expect("setup");
    let alice = cp.as_user("alice").await;
    let lead = workflow(sales, "lead")
        .display_name("Lead")
        .steps(&["the-real-one"])
        .and(
            share(sales, "lead")
                .workflow("lead")
                .to_workspaces(&[support]),
        );
    apply(&alice, &lead).await.expect("alice shares");
    eventually("the entry", WAIT, || async {
        entry_exists(&admin, support, "nd2-sales.lead")
            .await
            .then_some(())
    })
    .await;

    // dave makes the target first, dressed as the clone's copy.
    let dave = cp.as_user("dave").await;
    let look_alike = workflow(support, "fake-copy")
        .display_name("Mine")
        .steps(&["daves"])
        .annotation("sharing.workflows.dev/clone-request", "fake-clone")
        .annotation("sharing.workflows.dev/cloned-from", "nd2-sales/lead");
    let marked = look_alike
        .clone()
        .label("app.kubernetes.io/managed-by", "workflow-share");
    let err = apply(&dave, &marked)
        .await
        .expect_err("the controller's mark cannot be forged");
    assert!(err.to_string().contains("only workflow-share"), "{err}");
    apply(&dave, &look_alike).await.expect("dave's look-alike");

    let carol = cp.as_user("carol").await;
    apply(
        &carol,
        &workflow_clone(support, "fake-clone", "nd2-sales.lead", "fake-copy"),
    )
    .await
    .expect("carol's clone");
    let clones: Api<WorkflowClone> = Api::namespaced(admin.clone(), support);
    let reason = eventually("the clone judged", WAIT, || async {
        let status = clones.get("fake-clone").await.ok()?.status?;
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        (ready.reason != "SharedWorkflowNotFound").then(|| ready.reason.clone())
    })
    .await;
    assert_eq!(reason, "TargetExists");

    // A real copy is marked as the controller's, and its stamps cannot be added to.
    apply(
        &carol,
        &workflow_clone(support, "real-clone", "nd2-sales.lead", "real-copy"),
    )
    .await
    .expect("carol's clone");
    let reason = eventually("the real clone", WAIT, || async {
        let status = clones.get("real-clone").await.ok()?.status?;
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        (ready.reason == "Cloned").then(|| ready.reason.clone())
    })
    .await;
    assert_eq!(reason, "Cloned");
    let copies: Api<Workflow> = Api::namespaced(carol.clone(), support);
    let err = copies
        .patch(
            "real-copy",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "sharing.workflows.dev/created-by-groups": "system:masters"}}})),
        )
        .await
        .expect_err("an empty stamp is not an invitation");
    assert!(err.to_string().contains("cannot be added"), "{err}");
}
