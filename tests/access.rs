//! Admission and RBAC outcomes (R7, R10, R11, R13, R15, creator stamp), asserted
//! against the real API server as the users involved.

mod support;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::*;
use workflow_share::resources::{SharedWorkflow, Workflow, WorkflowShare};

const G: &str = "sharing.workflows.dev";

fn share_doc(ns: &str, name: &str, spec: &str) -> String {
    manifest("WorkflowShare", ns, name, "", spec)
}

fn workflow_doc(ns: &str, name: &str, metadata_extra: &str) -> String {
    let spec = "  displayName: Forecast\n  type: Reporting\n  description: first version\n  trainingDataRef: history";
    manifest("Workflow", ns, name, metadata_extra, spec)
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
    let mut yaml = organization_yaml(&format!("{prefix}-org"), &[&sales, &support]);
    yaml += &member_yaml(&sales, "owner", "alice");
    for (ns, role, user) in members {
        yaml += &member_yaml(ns, role, user);
    }
    apply_yaml(&cp.admin().await, &yaml)
        .await
        .expect("organization");
    let alice = cp.as_user("alice").await;
    let spec = format!("  workflowRef: {{name: forecast}}\n  workspaces: [{support}]");
    let docs = workflow_doc(&sales, "forecast", "") + &share_doc(&sales, "forecast", &spec);
    apply_yaml(&alice, &docs)
        .await
        .expect("alice shares forecast");
    alice
}

#[tokio::test]
async fn invalid_manifests_are_refused_with_the_field_named() {
    let cp = control_plane();
    let admin = cp.admin().await;
    apply_yaml(
        &admin,
        &organization_yaml("bad-org", &["bad-sales", "bad-support"]),
    )
    .await
    .expect("org");
    let ns = "bad-sales";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "namespace in workflowRef",
            share_doc(ns, "c1", "  workflowRef: {name: w, namespace: other}"),
            "spec.workflowRef.namespace",
        ),
        (
            "empty workflow name",
            share_doc(ns, "c2", "  workflowRef: {name: ''}"),
            "spec.workflowRef.name",
        ),
        (
            "missing workflowRef",
            share_doc(ns, "c3", "  workspaces: [bad-support]"),
            "spec.workflowRef: Required value",
        ),
        (
            "workspace not a namespace name",
            share_doc(
                ns,
                "c4",
                "  workflowRef: {name: w}\n  workspaces: [Not_A_Name]",
            ),
            "spec.workspaces[0]",
        ),
        (
            "duplicate workspace",
            share_doc(
                ns,
                "c5",
                "  workflowRef: {name: w}\n  workspaces: [bad-support, bad-support]",
            ),
            ".spec.workspaces: duplicate entries",
        ),
        (
            "unknown access mode",
            share_doc(ns, "c6", "  workflowRef: {name: w}\n  access: Edit"),
            "spec.access: Unsupported value: \"Edit\"",
        ),
        (
            "self share",
            share_doc(
                ns,
                "c7",
                "  workflowRef: {name: w}\n  workspaces: [bad-sales]",
            ),
            "spec.workspaces: bad-sales is the workflow's own workspace",
        ),
        (
            "empty display name",
            format!(
                "apiVersion: sharing.workflows.dev/v1alpha1\nkind: Workflow\nmetadata:\n  name: c8\n  namespace: {ns}\nspec:\n  displayName: ''\n"
            ),
            "spec.displayName",
        ),
        (
            "a person with an empty name",
            share_doc(
                ns,
                "c9",
                "  workflowRef: {name: w}\n  people: {users: ['']}",
            ),
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
            manifest(
                "Trigger",
                ns,
                "c10",
                "",
                "  type: Schedule\n  workflowRef: {kind: Workflow, name: w}\n  schedule: {cron: 'every minute'}",
            ),
            "spec.schedule.cron",
        ),
        (
            "an unknown time zone",
            manifest(
                "Trigger",
                ns,
                "c11",
                "",
                "  type: Schedule\n  workflowRef: {kind: Workflow, name: w}\n  schedule: {cron: '0 9 * * *', timeZone: Mars/Olympus}",
            ),
            "spec.schedule.timeZone: Invalid value",
        ),
        (
            "a trigger naming a workflow of another namespace",
            manifest(
                "Trigger",
                ns,
                "c12",
                "",
                "  type: Webhook\n  workflowRef: {kind: Workflow, name: w, namespace: bad-support}",
            ),
            "spec.workflowRef.namespace: Forbidden",
        ),
        (
            "a run naming nothing",
            manifest("WorkflowRun", ns, "c13", "", "  runAs: ''"),
            "spec.workflowRef: Required value",
        ),
        (
            "a schedule trigger without a schedule",
            manifest(
                "Trigger",
                ns,
                "c14",
                "",
                "  type: Schedule\n  workflowRef: {kind: Workflow, name: w}",
            ),
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
    let mut yaml = organization_yaml("who-org", &[sales, support]);
    yaml += &member_yaml(sales, "owner", "alice");
    yaml += &member_yaml(sales, "member", "bob");
    yaml += &member_yaml(support, "member", "dave");
    apply_yaml(&admin, &yaml).await.expect("org");

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
    let claim = "  annotations: {sharing.workflows.dev/created-by: mallory}\n";
    apply_yaml(&alice, &workflow_doc(sales, "forecast", claim))
        .await
        .expect("alice creates workflow");
    until_known::<workflow_share::resources::Workflow>(&admin, sales, "forecast").await;
    let share = share_doc(
        sales,
        "forecast",
        "  workflowRef: {name: forecast}\n  workspaces: [who-support]",
    );
    let err = apply_yaml(&bob, &share)
        .await
        .expect_err("bob is only a member");
    assert!(
        err.to_string()
            .contains("bob may not share workflow forecast"),
        "{err}"
    );
    apply_yaml(&alice, &share).await.expect("alice shares");

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
    apply_yaml(
        &admin,
        &organization_yaml("cf-org", &[sales, support, finance]),
    )
    .await
    .expect("org");
    // Someone else's SharedWorkflow already holds the generated name in support.
    let foreign = format!(
        "apiVersion: sharing.workflows.dev/v1alpha1\nkind: SharedWorkflow\nmetadata:\n  name: cf-sales.forecast\n  namespace: {support}\nspec:\n  source: {{namespace: elsewhere, name: other}}\n  displayName: Not yours\n  access: View\n"
    );
    apply_yaml(&admin, &foreign).await.expect("foreign object");
    apply_yaml(&admin, &workflow_doc(sales, "forecast", ""))
        .await
        .expect("workflow");
    apply_yaml(
        &admin,
        &share_doc(
            sales,
            "forecast",
            "  workflowRef: {name: forecast}\n  workspaces: [cf-support, cf-finance]",
        ),
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
    let mut yaml = organization_yaml("cl-org", &[sales, support]);
    yaml += &member_yaml(support, "owner", "carol");
    yaml += &member_yaml(support, "member", "dave");
    apply_yaml(&admin, &yaml).await.expect("org");
    for (name, access) in [("forecast", "View"), ("payroll", "Run")] {
        let y = workflow_doc(sales, name, "")
            + "\n---\n"
            + &share_doc(
                sales,
                name,
                &format!(
                    "  workflowRef: {{name: {name}}}\n  workspaces: [cl-support]\n  access: {access}"
                ),
            );
        apply_yaml(&admin, &y).await.expect("share");
    }
    let entries: Api<SharedWorkflow> = Api::namespaced(admin.clone(), support);
    eventually("both entries", WAIT, || async {
        let a = entries.get_opt("cl-sales.forecast").await.ok()?;
        let b = entries.get_opt("cl-sales.payroll").await.ok()?;
        (a.is_some() && b.is_some()).then_some(())
    })
    .await;

    let clone_doc = |name: &str, source: &str, target: &str| {
        format!(
            "apiVersion: sharing.workflows.dev/v1alpha1\nkind: WorkflowClone\nmetadata:\n  name: {name}\n  namespace: {support}\nspec:\n  sharedWorkflowRef: {{name: {source}}}\n  targetName: {target}\n"
        )
    };
    let dave = cp.as_user("dave").await;
    let err = apply_yaml(
        &dave,
        &clone_doc("by-dave", "cl-sales.forecast", "daves-copy"),
    )
    .await
    .expect_err("members cannot clone");
    assert!(err.to_string().contains("forbidden"), "{err}");

    let carol = cp.as_user("carol").await;
    apply_yaml(
        &carol,
        &clone_doc("by-carol", "cl-sales.forecast", "my-forecast"),
    )
    .await
    .expect("owner clones");
    apply_yaml(
        &carol,
        &clone_doc("run-only", "cl-sales.payroll", "my-payroll"),
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
