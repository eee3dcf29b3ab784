//! Projects, triggers and runs on the real API server: a schedule trigger fires as
//! its creator (and is refused once the creator may not run the workflow), the
//! people it is shared with see it but cannot edit or fire it, runs of shared
//! workflows are accepted or rejected by availability and accounted to the running
//! workspace, and sharing a project shares nothing else.

mod support;

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::*;
use workflow_share::resources::{Access, RunPhase, Tier, Trigger, Workflow, WorkflowRun};

const G: &str = "sharing.workflows.dev";
/// A schedule trigger fires at the next minute boundary: at most a minute away.
const FIRE_WAIT: Duration = Duration::from_secs(80);

async fn run_status(admin: &kube::Client, ns: &str, name: &str) -> Option<(RunPhase, String)> {
    let api: Api<WorkflowRun> = Api::namespaced(admin.clone(), ns);
    let status = api.get(name).await.ok()?.status?;
    (status.phase != RunPhase::Pending).then_some((status.phase, status.reason))
}

#[tokio::test]
async fn a_schedule_trigger_fires_as_its_creator_and_only_while_they_may_run() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let sales = "tg-sales";
    bob_shares_his_trigger_with_grace(cp, &admin, sales).await;
    grace_sees_the_trigger_but_cannot_edit_fire_or_run_it(cp, &admin, sales).await;
    let (trigger, run_name) = the_trigger_fires_as_bob(&admin, sales).await;
    restore_older_runs_of_the_trigger(cp, sales, &trigger).await;
    let status = trigger.status.expect("status");
    assert_eq!(status.creator.as_deref(), Some("bob"));
    assert_eq!(status.recent_fires[0].run, run_name);
    assert!(status.next_fire_time.is_some());
    bob_leaves_and_the_next_fire_is_refused(&admin, sales).await;
    the_history_limit_keeps_three_runs(&admin, sales).await;
}

/// Bob makes a workflow and its schedule trigger, and shares the trigger with grace.
async fn bob_shares_his_trigger_with_grace(cp: &ControlPlane, admin: &kube::Client, sales: &str) {
    let objects = organization("tg-org", &[sales])
        .and(member(sales, "member", "bob"))
        .and(member(sales, "member", "grace"));
    apply(admin, &objects).await.expect("organization");
    let bob = cp.as_user("bob").await;
    let nightly = workflow(sales, "nightly").display_name("Nightly").and(
        trigger(sales, "every-minute")
            .workflow("nightly")
            .schedule("* * * * *")
            .time_zone("Europe/Berlin")
            .history_limit(3),
    );
    apply(&bob, &nightly)
        .await
        .expect("bob's workflow and trigger");
    eventually("bob may share his trigger", WAIT, || async {
        can_i(&bob, "share", G, "triggers", sales, Some("every-minute"))
            .await
            .then_some(())
    })
    .await;
    apply(
        &bob,
        &share(sales, "every-minute")
            .trigger("every-minute")
            .to_users(&["grace"]),
    )
    .await
    .expect("shared with grace");
}

/// Grace sees the shared trigger but neither edits nor fires it, nor runs the workflow.
async fn grace_sees_the_trigger_but_cannot_edit_fire_or_run_it(
    cp: &ControlPlane,
    admin: &kube::Client,
    sales: &str,
) {
    // grace sees the trigger, not the workflow; she can neither edit nor fire it.
    let grace = cp.as_user("grace").await;
    let triggers: Api<Trigger> = Api::namespaced(grace.clone(), sales);
    eventually("grace sees the trigger", WAIT, || async {
        let t = triggers.get("every-minute").await.ok()?;
        (t.status?.tier == Some(Tier::Shared)).then_some(())
    })
    .await;
    assert!(!can_i(&grace, "get", G, "workflows", sales, Some("nightly")).await);
    let err = triggers
        .patch(
            "every-minute",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await
        .expect_err("grace cannot edit");
    assert!(
        err.to_string()
            .contains("only the creator of trigger every-minute (bob)"),
        "{err}"
    );
    let err = apply(
        &grace,
        &workflow_run(sales, "by-hand")
            .workflow("nightly")
            .trigger_ref("every-minute"),
    )
    .await
    .expect_err("grace cannot fire it");
    assert!(
        err.to_string()
            .contains("only workflow-share creates a trigger's runs"),
        "{err}"
    );
    // Nor run the private workflow herself.
    apply(
        &grace,
        &workflow_run(sales, "grace-try").workflow("nightly"),
    )
    .await
    .expect("a run request");
    let (phase, reason) = eventually("grace's run decided", WAIT, || async {
        run_status(admin, sales, "grace-try").await
    })
    .await;
    assert_eq!(
        (phase, reason.as_str()),
        (RunPhase::Rejected, "WorkflowNotVisible")
    );
}

/// The trigger fires at the next minute as bob, and the fire is accepted: the
/// trigger as read right after, and the fired run's name.
async fn the_trigger_fires_as_bob(admin: &kube::Client, sales: &str) -> (Trigger, String) {
    // It fires at the next minute, as bob.
    let runs: Api<WorkflowRun> = Api::namespaced(admin.clone(), sales);
    let fired = eventually("the trigger fires", FIRE_WAIT, || async {
        runs.list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|r| r.spec.trigger_ref.as_deref() == Some("every-minute"))
    })
    .await;
    assert_eq!(fired.spec.run_as, "bob", "runs as its creator");
    assert!(fired.spec.scheduled_time.is_some());
    let run_name = fired.metadata.name.clone().expect("name");
    let (phase, _) = eventually("the fire is accepted", WAIT, || async {
        run_status(admin, sales, &run_name).await
    })
    .await;
    assert_eq!(phase, RunPhase::Accepted);
    let trigger = Api::<Trigger>::namespaced(admin.clone(), sales)
        .get("every-minute")
        .await
        .expect("trigger");
    (trigger, run_name)
}

/// Creates, as the controller, three older runs owned by the trigger (its history).
async fn restore_older_runs_of_the_trigger(cp: &ControlPlane, sales: &str, trigger: &Trigger) {
    // Three older runs of this trigger, as the controller would have made them: with
    // the fire, one more than historyLimit 3, so the oldest is deleted.
    let uid = trigger.metadata.uid.clone().expect("uid");
    let as_controller = cp
        .impersonating(
            "system:serviceaccount:workflow-share-system:workflow-share",
            &["system:serviceaccounts", "system:authenticated"],
        )
        .await;
    let as_controller: Api<WorkflowRun> = Api::namespaced(as_controller, sales);
    for day in 1..=3 {
        let owner = OwnerReference {
            api_version: "sharing.workflows.dev/v1alpha1".into(),
            kind: "Trigger".into(),
            name: "every-minute".into(),
            uid: uid.clone(),
            ..Default::default()
        };
        let run = workflow_run(sales, &format!("restored-{day}"))
            .workflow("nightly")
            .trigger_ref("every-minute")
            .scheduled_time(&format!("2020-01-0{day}T00:00:00Z"))
            .label("app.kubernetes.io/managed-by", "workflow-share")
            .label("sharing.workflows.dev/trigger", "every-minute")
            .owner_reference(owner)
            .build();
        as_controller
            .create(&Default::default(), &run)
            .await
            .expect("restored run");
    }
}

/// Once bob leaves the workspace, the next fire is recorded as refused (Ready False)
/// and makes no run.
async fn bob_leaves_and_the_next_fire_is_refused(admin: &kube::Client, sales: &str) {
    // bob leaves the workspace: the next fire is refused, never run as someone else.
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(admin.clone(), sales)
        .delete("member-bob", &DeleteParams::default())
        .await
        .expect("bob leaves");
    let refused = eventually("the next fire is refused", FIRE_WAIT, || async {
        let t = Api::<Trigger>::namespaced(admin.clone(), sales)
            .get("every-minute")
            .await
            .ok()?;
        let st = t.status?;
        let latest = st.recent_fires.first()?.clone();
        (latest.outcome == "CreatorMayNotRun").then_some(st)
    })
    .await;
    let ready = refused
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "CreatorMayNotRun")
    );
    let runs: Api<WorkflowRun> = Api::namespaced(admin.clone(), sales);
    let by_trigger = runs
        .list(&Default::default())
        .await
        .expect("runs")
        .items
        .into_iter()
        .filter(|r| r.spec.trigger_ref.is_some())
        .filter(|r| {
            !r.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("restored-"))
        })
        .count();
    assert_eq!(by_trigger, 1, "no run was made for the refused fire");
}

/// historyLimit 3 keeps the three newest of the trigger's runs: the oldest is deleted.
async fn the_history_limit_keeps_three_runs(admin: &kube::Client, sales: &str) {
    let runs: Api<WorkflowRun> = Api::namespaced(admin.clone(), sales);
    let kept: Vec<String> = runs
        .list(&Default::default())
        .await
        .expect("runs")
        .items
        .into_iter()
        .filter(|r| r.metadata.owner_references.is_some())
        .filter_map(|r| r.metadata.name)
        .collect();
    assert_eq!(kept.len(), 3, "historyLimit 3 keeps three runs: {kept:?}");
    assert!(
        !kept.iter().any(|n| n == "restored-1"),
        "the oldest run was deleted: {kept:?}"
    );
}

#[tokio::test]
async fn runs_of_shared_workflows_are_accepted_by_availability_and_accounted_to_the_recipient() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("rn-sales", "rn-support");
    let mut objects = organization("rn-org", &[sales, support])
        .and(member(sales, "owner", "alice"))
        .and(member(support, "member", "dave"));
    for (name, access) in [("forecast", Access::Run), ("digest", Access::View)] {
        objects += workflow(sales, name).steps(&["secret-step"]);
        objects += share(sales, name)
            .workflow(name)
            .to_workspaces(&[support])
            .access(access);
    }
    apply(&admin, &objects).await.expect("shares");
    eventually("entries in support", WAIT, || async {
        (entry_exists(&admin, support, "rn-sales.forecast").await
            && entry_exists(&admin, support, "rn-sales.digest").await)
            .then_some(())
    })
    .await;
    let dave = cp.as_user("dave").await;
    let entries: Api<workflow_share::resources::SharedWorkflow> =
        Api::namespaced(dave.clone(), support);
    for entry in ["rn-sales.forecast", "rn-sales.digest"] {
        entries
            .patch(
                entry,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"enabled": true}})),
            )
            .await
            .expect("enable");
    }

    // Run access: dave runs it, typed runAs is replaced, usage is support's.
    apply(
        &dave,
        &workflow_run(support, "run-1")
            .shared_workflow("rn-sales.forecast")
            .run_as("alice"),
    )
    .await
    .expect("dave runs it");
    let (phase, _) = eventually("accepted", WAIT, || async {
        run_status(&admin, support, "run-1").await
    })
    .await;
    assert_eq!(phase, RunPhase::Accepted);
    let run = Api::<WorkflowRun>::namespaced(admin.clone(), support)
        .get("run-1")
        .await
        .expect("run");
    assert_eq!(
        run.spec.run_as, "dave",
        "nobody can type someone else's name"
    );
    let accounted = run.status.and_then(|s| s.accounted_to).expect("accounted");
    assert_eq!(
        (
            accounted.workspace.as_str(),
            accounted.organization.as_str()
        ),
        (support, "rn-org")
    );
    assert!(
        !can_i(&dave, "get", G, "workflows", sales, Some("forecast")).await,
        "Run access never reads the definition"
    );

    // Archived: runs are rejected. Revoked: likewise.
    let workflows: Api<Workflow> = Api::namespaced(admin.clone(), sales);
    workflows
        .patch(
            "forecast",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"archived": true}})),
        )
        .await
        .expect("archive");
    let admin_entries: Api<workflow_share::resources::SharedWorkflow> =
        Api::namespaced(admin.clone(), support);
    eventually("entry suspended", WAIT, || async {
        let entry = admin_entries.get("rn-sales.forecast").await.ok()?;
        (entry.spec.suspended.as_deref() == Some("WorkflowArchived")).then_some(())
    })
    .await;
    apply(
        &dave,
        &workflow_run(support, "run-2").shared_workflow("rn-sales.forecast"),
    )
    .await
    .expect("request");
    let (phase, reason) = eventually("rejected", WAIT, || async {
        run_status(&admin, support, "run-2").await
    })
    .await;
    assert_eq!((phase, reason.as_str()), (RunPhase::Rejected, "Suspended"));

    Api::<workflow_share::resources::WorkflowShare>::namespaced(admin.clone(), sales)
        .delete("digest", &DeleteParams::default())
        .await
        .expect("revoke");
    eventually("entry revoked", WAIT, || async {
        (!entry_exists(&admin, support, "rn-sales.digest").await).then_some(())
    })
    .await;
    let api: Api<WorkflowRun> = Api::namespaced(dave.clone(), support);
    let run = workflow_run(support, "run-3")
        .shared_workflow("rn-sales.digest")
        .build();
    api.create(&PostParams::default(), &run)
        .await
        .expect("request");
    let (phase, reason) = eventually("rejected after revocation", WAIT, || async {
        run_status(&admin, support, "run-3").await
    })
    .await;
    assert_eq!(
        (phase, reason.as_str()),
        (RunPhase::Rejected, "SharedWorkflowNotFound")
    );
}

#[tokio::test]
async fn sharing_a_project_shares_the_project_only() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("pj-sales", "pj-support");
    let objects = organization("pj-org", &[sales, support])
        .and(member(sales, "member", "bob"))
        .and(member(support, "member", "dave"));
    apply(&admin, &objects).await.expect("organization");
    let bob = cp.as_user("bob").await;
    let roadmap = project(sales, "roadmap")
        .display_name("Roadmap")
        .document("Plan", "doc-1")
        .agent("helper")
        .and(
            workflow(sales, "in-project")
                .display_name("In the project")
                .in_project("roadmap"),
        )
        .and(
            trigger(sales, "in-project")
                .webhook()
                .workflow("in-project"),
        );
    apply(&bob, &roadmap).await.expect("bob's project");
    eventually("bob may share his project", WAIT, || async {
        can_i(&bob, "share", G, "projects", sales, Some("roadmap"))
            .await
            .then_some(())
    })
    .await;
    let dave = cp.as_user("dave").await;
    assert!(
        !can_i(&dave, "get", G, "projects", sales, Some("roadmap")).await,
        "private"
    );
    apply(
        &bob,
        &share(sales, "roadmap")
            .project("roadmap")
            .entire_organization(),
    )
    .await
    .expect("org-wide");
    eventually("dave reads the project", WAIT, || async {
        can_i(&dave, "get", G, "projects", sales, Some("roadmap"))
            .await
            .then_some(())
    })
    .await;
    assert!(!can_i(&dave, "get", G, "workflows", sales, Some("in-project")).await);
    assert!(!can_i(&dave, "get", G, "triggers", sales, Some("in-project")).await);
    assert!(
        !can_i(&dave, "patch", G, "projects", sales, Some("roadmap")).await || {
            // RBAC lets members patch (server-side apply creates); admission refuses it.
            let projects: Api<workflow_share::resources::Project> =
                Api::namespaced(dave.clone(), sales);
            projects
                .patch(
                    "roadmap",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"description": "x"}})),
                )
                .await
                .is_err()
        }
    );
}
