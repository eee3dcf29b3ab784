//! Admission and RBAC outcomes (R7, R10, R11, R13, R15, creator stamp), asserted
//! against the real API server as the users involved.

mod support;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::*;
use workflow_share::resources::{Access, SharedWorkflow, Workflow, WorkflowShare};

const G: &str = "sharing.workflows.dev";

fn forecast(ns: &str, name: &str) -> Builder<Workflow> {
    workflow(ns, name)
        .display_name("Forecast")
        .of_type("Reporting")
        .description("first version")
        .training_data("history")
}

/// Organization `<prefix>-org` with workspaces `<prefix>-sales` (alice owns it) and
/// `<prefix>-support`, plus `members` (namespace, role, user); alice shares her
/// workflow `forecast` with support. Returns alice's client.
async fn alice_shares_forecast(
    cp: &ControlPlane,
    prefix: &str,
    members: &[(&str, &str, &str)],
) -> kube::Client {
    let (sales, support) = (format!("{prefix}-sales"), format!("{prefix}-support"));
    let mut objects = organization(&format!("{prefix}-org"), &[&sales, &support])
        .and(member(&sales, "owner", "alice"));
    for (ns, role, user) in members {
        objects += member(ns, role, user);
    }
    apply(&cp.admin().await, &objects)
        .await
        .expect("organization");
    let alice = cp.as_user("alice").await;
    let shared = forecast(&sales, "forecast").and(
        share(&sales, "forecast")
            .workflow("forecast")
            .to_workspaces(&[&support]),
    );
    apply(&alice, &shared).await.expect("alice shares forecast");
    alice
}

#[tokio::test]
async fn invalid_manifests_are_refused_with_the_field_named() {
    let cp = control_plane();
    let admin = cp.admin().await;
    apply(
        &admin,
        &organization("bad-org", &["bad-sales", "bad-support"]),
    )
    .await
    .expect("org");
    let ns = "bad-sales";
    // What the types can say is built with them; what they cannot (a missing required
    // field, an unknown enum value) is raw YAML.
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "namespace in workflowRef",
            to_yaml(&share(ns, "c1").workflow("w").ref_namespace("other")),
            "spec.workflowRef.namespace",
        ),
        (
            "empty workflow name",
            to_yaml(&share(ns, "c2").workflow("")),
            "spec.workflowRef.name",
        ),
        (
            "missing workflowRef",
            "apiVersion: sharing.workflows.dev/v1alpha1\nkind: WorkflowShare\nmetadata:\n  name: c3\n  namespace: bad-sales\nspec:\n  workspaces: [bad-support]\n".to_string(),
            "spec.workflowRef: Required value",
        ),
        (
            "workspace not a namespace name",
            to_yaml(&share(ns, "c4").workflow("w").to_workspaces(&["Not_A_Name"])),
            "spec.workspaces[0]",
        ),
        (
            "duplicate workspace",
            to_yaml(
                &share(ns, "c5")
                    .workflow("w")
                    .to_workspaces(&["bad-support", "bad-support"]),
            ),
            ".spec.workspaces: duplicate entries",
        ),
        (
            "unknown access mode",
            "apiVersion: sharing.workflows.dev/v1alpha1\nkind: WorkflowShare\nmetadata:\n  name: c6\n  namespace: bad-sales\nspec:\n  workflowRef: {name: w}\n  access: Edit\n".to_string(),
            "spec.access: Unsupported value: \"Edit\"",
        ),
        (
            "self share",
            to_yaml(&share(ns, "c7").workflow("w").to_workspaces(&["bad-sales"])),
            "spec.workspaces: bad-sales is the workflow's own workspace",
        ),
        (
            "empty display name",
            to_yaml(&workflow(ns, "c8").display_name("")),
            "spec.displayName",
        ),
        (
            "a person with an empty name",
            to_yaml(&share(ns, "c9").workflow("w").to_users(&[""])),
            "spec.people.users[0]",
        ),
        (
            "a coordinator of an unknown kind",
            "apiVersion: sharing.workflows.dev/v1alpha1\nkind: Organization\nmetadata:\n  name: bad-org-2\nspec:\n  coordinators: [{kind: Robot, name: r2}]\n".to_string(),
            "spec.coordinators[0].kind: Unsupported value: \"Robot\"",
        ),
        (
            "an unknown sharing policy",
            "apiVersion: sharing.workflows.dev/v1alpha1\nkind: Organization\nmetadata:\n  name: bad-org-3\nspec:\n  sharingPolicy: Everyone\n".to_string(),
            "spec.sharingPolicy: Unsupported value: \"Everyone\"",
        ),
        (
            "an invalid cron expression",
            to_yaml(&trigger(ns, "c10").workflow("w").schedule("every minute")),
            "spec.schedule.cron",
        ),
        (
            "an unknown time zone",
            to_yaml(
                &trigger(ns, "c11")
                    .workflow("w")
                    .schedule("0 9 * * *")
                    .time_zone("Mars/Olympus"),
            ),
            "spec.schedule.timeZone: Invalid value",
        ),
        (
            "a trigger naming a workflow of another namespace",
            to_yaml(
                &trigger(ns, "c12")
                    .webhook()
                    .workflow("w")
                    .ref_namespace("bad-support"),
            ),
            "spec.workflowRef.namespace: Forbidden",
        ),
        (
            "a run naming nothing",
            "apiVersion: sharing.workflows.dev/v1alpha1\nkind: WorkflowRun\nmetadata:\n  name: c13\n  namespace: bad-sales\nspec:\n  runAs: ''\n".to_string(),
            "spec.workflowRef: Required value",
        ),
        (
            // Schedule is a trigger's type until it is told otherwise.
            "a schedule trigger without a schedule",
            to_yaml(&trigger(ns, "c14").workflow("w")),
            "spec.schedule: Required value",
        ),
    ];
    for (what, yaml, expected) in cases {
        let err = apply_yaml(&admin, &yaml).await.expect_err(what);
        let text = err.to_string();
        assert!(
            text.contains(expected),
            "{what}: expected {expected:?} in {text}"
        );
    }
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), ns);
    let workflows: Api<Workflow> = Api::namespaced(admin.clone(), ns);
    assert!(
        shares
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty(),
        "nothing partially applied"
    );
    assert!(
        workflows
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn owners_and_managers_share_members_cannot_and_the_creator_is_stamped() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("who-sales", "who-support");
    let objects = organization("who-org", &[sales, support])
        .and(member(sales, "owner", "alice"))
        .and(member(sales, "member", "bob"))
        .and(member(support, "member", "dave"));
    apply(&admin, &objects).await.expect("org");

    let alice = cp.as_user("alice").await;
    let bob = cp.as_user("bob").await;
    assert!(can_i(&alice, "create", G, "workflowshares", sales, None).await);
    // Members may write shares of what they may share (admission checks the
    // workflow); bob below tries alice's and is refused.
    assert!(
        can_i(&bob, "get", G, "workflowshares", sales, None).await,
        "members can see shares"
    );

    // alice creates the workflow, even claiming to be someone else: the stamp says alice.
    let claim =
        forecast(sales, "forecast").annotation("sharing.workflows.dev/created-by", "mallory");
    apply(&alice, &claim).await.expect("alice creates workflow");
    until_known::<workflow_share::resources::Workflow>(&admin, sales, "forecast").await;
    let shared = share(sales, "forecast")
        .workflow("forecast")
        .to_workspaces(&["who-support"]);
    let err = apply(&bob, &shared)
        .await
        .expect_err("bob is only a member");
    assert!(
        err.to_string()
            .contains("bob may not share workflow forecast"),
        "{err}"
    );
    apply(&alice, &shared).await.expect("alice shares");

    let workflows: Api<Workflow> = Api::namespaced(admin.clone(), sales);
    let wf = workflows.get("forecast").await.expect("workflow");
    let stamp = |m: &kube::api::ObjectMeta| {
        m.annotations
            .as_ref()
            .and_then(|a| a.get("sharing.workflows.dev/created-by"))
            .cloned()
    };
    assert_eq!(stamp(&wf.metadata).as_deref(), Some("alice"));

    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    let status = eventually("share granted", WAIT, || async {
        let s = shares.get("forecast").await.ok()?.status?;
        (s.active_grants == 1).then_some(s)
    })
    .await;
    assert_eq!(status.shared_by.as_deref(), Some("alice"));
    let entries: Api<SharedWorkflow> = Api::namespaced(admin.clone(), support);
    let entry = entries
        .get("who-sales.forecast")
        .await
        .expect("SharedWorkflow");
    assert_eq!(entry.spec.shared_by, "alice");

    // The stamp cannot be rewritten afterwards.
    let err = workflows
        .patch("forecast", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"annotations": {"sharing.workflows.dev/created-by": "mallory"}}})))
        .await
        .expect_err("stamp is immutable");
    assert!(err.to_string().contains("cannot be changed"), "{err}");
}

#[tokio::test]
async fn a_shared_workflow_cannot_be_deleted_until_sharing_is_revoked() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("del-sales", "del-support");
    let alice = alice_shares_forecast(cp, "del", &[]).await;

    let workflows: Api<Workflow> = Api::namespaced(alice.clone(), sales);
    eventually("workflow status lists its share", WAIT, || async {
        let st = workflows.get("forecast").await.ok()?.status?;
        (st.shares == vec!["forecast".to_string()]).then_some(())
    })
    .await;
    let err = workflows
        .delete("forecast", &DeleteParams::default())
        .await
        .expect_err("shared: refused");
    let text = err.to_string();
    assert!(
        text.contains("revoke sharing first") && text.contains("forecast"),
        "{text}"
    );

    let shares: Api<WorkflowShare> = Api::namespaced(alice.clone(), sales);
    shares
        .delete("forecast", &DeleteParams::default())
        .await
        .expect("revoke");
    eventually(
        "grant removed and workflow no longer shared",
        WAIT,
        || async {
            let st = workflows.get("forecast").await.ok()?.status?;
            let entries: Api<SharedWorkflow> = Api::namespaced(admin.clone(), support);
            let gone = entries.get_opt("del-sales.forecast").await.ok()?.is_none();
            (st.shares.is_empty() && gone).then_some(())
        },
    )
    .await;
    workflows
        .delete("forecast", &DeleteParams::default())
        .await
        .expect("unshared workflow deletes");
}

#[tokio::test]
async fn recipients_only_enable_and_edits_propagate_without_resetting_it() {
    let cp = control_plane();
    let (sales, support) = ("rx-sales", "rx-support");
    let alice = alice_shares_forecast(cp, "rx", &[("rx-support", "member", "dave")]).await;

    let dave = cp.as_user("dave").await;
    let entries: Api<SharedWorkflow> = Api::namespaced(dave.clone(), support);
    eventually("entry appears", WAIT, || async {
        entries.get_opt("rx-sales.forecast").await.ok()?.map(|_| ())
    })
    .await;

    // R13: dave enables it.
    entries
        .patch(
            "rx-sales.forecast",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"enabled": true}})),
        )
        .await
        .expect("recipients may enable");
    // R10: but nothing else.
    let err = entries
        .patch(
            "rx-sales.forecast",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"displayName": "Mine now"}})),
        )
        .await
        .expect_err("recipients may not edit the entry");
    assert!(err.to_string().contains("only spec.enabled"), "{err}");
    let err = entries
        .delete("rx-sales.forecast", &DeleteParams::default())
        .await
        .expect_err("recipients may not delete");
    assert!(err.to_string().contains("forbidden"), "{err}");
    let wf = Some("forecast");
    assert!(!can_i(&dave, "update", G, "workflows", sales, wf).await);
    assert!(!can_i(&dave, "patch", G, "workflows", sales, wf).await);
    assert!(!can_i(&dave, "delete", G, "workflows", sales, wf).await);

    // R6: the owner edits the workflow; the entry follows and stays enabled.
    let workflows: Api<Workflow> = Api::namespaced(alice.clone(), sales);
    workflows
        .patch(
            "forecast",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"description": "second version", "displayName": "Forecast v2"}}),
            ),
        )
        .await
        .expect("owner edits");
    let entry = eventually("edit propagated", WAIT, || async {
        let e = entries.get("rx-sales.forecast").await.ok()?;
        (e.spec.description == "second version").then_some(e)
    })
    .await;
    assert_eq!(entry.spec.display_name, "Forecast v2");
    assert_eq!(
        entry.spec.enabled,
        Some(true),
        "the controller never resets enabled"
    );
    assert!(
        entry.spec.source.generation >= 2,
        "source generation follows the workflow"
    );
}

#[tokio::test]
async fn an_object_we_do_not_own_is_reported_as_conflict_and_left_alone() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support, finance) = ("cf-sales", "cf-support", "cf-finance");
    apply(&admin, &organization("cf-org", &[sales, support, finance]))
        .await
        .expect("org");
    // Someone else's SharedWorkflow already holds the generated name in support.
    let foreign = shared_workflow(support, "cf-sales.forecast", "elsewhere", "other")
        .display_name("Not yours");
    apply(&admin, &foreign).await.expect("foreign object");
    apply(&admin, &forecast(sales, "forecast"))
        .await
        .expect("workflow");
    apply(
        &admin,
        &share(sales, "forecast")
            .workflow("forecast")
            .to_workspaces(&["cf-support", "cf-finance"]),
    )
    .await
    .expect("share");

    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    eventually("conflict on support only", WAIT, || async {
        let s = shares.get("forecast").await.ok()?.status?;
        let support_conflict = s
            .grants
            .iter()
            .any(|g| g.workspace == support && g.reason == "Conflict");
        let finance_ok = s
            .grants
            .iter()
            .any(|g| g.workspace == finance && g.reason == "Granted");
        (support_conflict && finance_ok).then_some(())
    })
    .await;
    let entries: Api<SharedWorkflow> = Api::namespaced(admin.clone(), support);
    assert_eq!(
        entries
            .get("cf-sales.forecast")
            .await
            .expect("foreign")
            .spec
            .display_name,
        "Not yours",
        "never overwritten"
    );

    entries
        .delete("cf-sales.forecast", &DeleteParams::default())
        .await
        .expect("remove foreign object");
    eventually("granted once the name is free", WAIT, || async {
        let e = entries.get_opt("cf-sales.forecast").await.ok()??;
        (e.spec.source.namespace == sales).then_some(())
    })
    .await;
}

#[tokio::test]
async fn owners_and_managers_of_a_recipient_workspace_clone_members_cannot_run_access_refused() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("cl-sales", "cl-support");
    let objects = organization("cl-org", &[sales, support])
        .and(member(support, "owner", "carol"))
        .and(member(support, "member", "dave"));
    apply(&admin, &objects).await.expect("org");
    for (name, access) in [("forecast", Access::View), ("payroll", Access::Run)] {
        let shared = forecast(sales, name).and(
            share(sales, name)
                .workflow(name)
                .to_workspaces(&["cl-support"])
                .access(access),
        );
        apply(&admin, &shared).await.expect("share");
    }
    let entries: Api<SharedWorkflow> = Api::namespaced(admin.clone(), support);
    eventually("both entries", WAIT, || async {
        let a = entries.get_opt("cl-sales.forecast").await.ok()?;
        let b = entries.get_opt("cl-sales.payroll").await.ok()?;
        (a.is_some() && b.is_some()).then_some(())
    })
    .await;

    let dave = cp.as_user("dave").await;
    let err = apply(
        &dave,
        &workflow_clone(support, "by-dave", "cl-sales.forecast", "daves-copy"),
    )
    .await
    .expect_err("members cannot clone");
    assert!(err.to_string().contains("forbidden"), "{err}");

    let carol = cp.as_user("carol").await;
    apply(
        &carol,
        &workflow_clone(support, "by-carol", "cl-sales.forecast", "my-forecast"),
    )
    .await
    .expect("owner clones");
    apply(
        &carol,
        &workflow_clone(support, "run-only", "cl-sales.payroll", "my-payroll"),
    )
    .await
    .expect("request accepted");

    let workflows: Api<Workflow> = Api::namespaced(admin.clone(), support);
    let copy = eventually("copy created", WAIT, || async {
        workflows.get_opt("my-forecast").await.ok()?
    })
    .await;
    let annotations = copy.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("sharing.workflows.dev/cloned-from")
            .map(String::as_str),
        Some("cl-sales/forecast")
    );
    assert_eq!(
        annotations
            .get("sharing.workflows.dev/created-by")
            .map(String::as_str),
        Some("carol")
    );
    assert_eq!(copy.spec.display_name, "Forecast");
    assert!(
        copy.spec.training_data_ref.is_none(),
        "training data is never copied"
    );
    eventually(
        "the copy is editable by whoever cloned it",
        WAIT,
        || async {
            can_i(
                &carol,
                "update",
                G,
                "workflows",
                support,
                Some("my-forecast"),
            )
            .await
            .then_some(())
        },
    )
    .await;

    let clones: Api<kube::api::DynamicObject> = Api::namespaced_with(
        admin.clone(),
        support,
        &api_resource::<workflow_share::resources::WorkflowClone>(),
    );
    let reason = |name: &'static str| {
        let clones = clones.clone();
        async move {
            let obj = clones.get(name).await.ok()?;
            let conds = obj
                .data
                .get("status")?
                .get("conditions")?
                .as_array()?
                .clone();
            conds.iter().find(|c| c["type"] == "Ready").map(|c| {
                (
                    c["status"].as_str().unwrap_or("").to_string(),
                    c["reason"].as_str().unwrap_or("").to_string(),
                )
            })
        }
    };
    let ok = eventually("clone Ready", WAIT, || reason("by-carol")).await;
    assert_eq!(ok, ("True".to_string(), "Cloned".to_string()));
    let refused = eventually("run-only refused", WAIT, || reason("run-only")).await;
    assert_eq!(refused, ("False".to_string(), "RunAccessOnly".to_string()));
    assert!(
        workflows
            .get_opt("my-payroll")
            .await
            .expect("get")
            .is_none(),
        "nothing copied for Run access"
    );
}
