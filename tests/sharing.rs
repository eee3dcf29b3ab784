//! Explicit workspaces against a real kube-apiserver: granted and revoked, with RBAC
//! answers checked as the users involved.

mod support;

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;
use support::*;
use workflow_share::resources::{GrantState, SharedWorkflow, Workflow, WorkflowShare};

const G: &str = "sharing.workflows.dev";

fn lead_workflow(ns: &str, name: &str) -> Builder<Workflow> {
    workflow(ns, name)
        .display_name("Lead qualification")
        .of_type("Sales Activity")
        .description("Scores leads")
        .training_data("lead-history")
}

#[tokio::test]
async fn explicit_workspaces_are_granted_and_revoked() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support, finance) = ("r1-sales", "r1-support", "r1-finance");
    let mut objects = organization("r1-org", &[sales, support, finance])
        .and(member(sales, "owner", "alice"))
        .and(member(support, "member", "dave"))
        .and(member(finance, "manager", "erin"));
    objects += lead_workflow(sales, "lead-qualification");
    objects += share(sales, "lead-qualification")
        .workflow("lead-qualification")
        .to_workspaces(&[support, finance]);
    apply(&admin, &objects).await.expect("apply organization");

    let sw = "r1-sales.lead-qualification";
    for ws in [support, finance] {
        eventually(&format!("SharedWorkflow in {ws}"), WAIT, || async {
            entry_exists(&admin, ws, sw).await.then_some(())
        })
        .await;
    }
    let swf: Api<SharedWorkflow> = Api::namespaced(admin.clone(), support);
    let entry = swf.get(sw).await.expect("SharedWorkflow");
    assert_eq!(entry.spec.source.namespace, sales);
    assert_eq!(entry.spec.source.name, "lead-qualification");
    assert_eq!(entry.spec.display_name, "Lead qualification");
    assert_eq!(entry.spec.type_, "Sales Activity");

    // RBAC, asked as the people themselves.
    let dave = cp.as_user("dave").await;
    let erin = cp.as_user("erin").await;
    let frank = cp.as_user("frank").await;
    let wf = Some("lead-qualification");
    recipients_read_only_the_workflow(cp, &dave, &erin, &frank, sales).await;

    // Status: both grants active, notified once, Ready.
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    share_is_ready_and_notified_once(&admin, &shares, support, finance).await;

    // Revoke support: its entry and its members' access go; finance keeps both.
    let revoked = share(sales, "lead-qualification")
        .workflow("lead-qualification")
        .to_workspaces(&[finance]);
    apply(&admin, &revoked).await.expect("revoke support");
    eventually("SharedWorkflow removed from support", WAIT, || async {
        (!entry_exists(&admin, support, sw).await).then_some(())
    })
    .await;
    eventually("dave loses access", WAIT, || async {
        (!can_i(&dave, "get", G, "workflows", sales, wf).await).then_some(())
    })
    .await;
    assert!(entry_exists(&admin, finance, sw).await);
    assert!(
        can_i(&erin, "get", G, "workflows", sales, wf).await,
        "finance keeps access"
    );

    // Deleting the share removes every grant, then the share itself.
    share_and_grants_go(&admin, &shares, sales, finance, sw).await;
    assert!(!can_i(&erin, "get", G, "workflows", sales, wf).await);
}

/// The RBAC answers of the share, asked as the people themselves: support's and
/// finance's members read the workflow and nothing else; an outsider nothing.
async fn recipients_read_only_the_workflow(
    cp: &ControlPlane,
    dave: &Client,
    erin: &Client,
    frank: &Client,
    sales: &str,
) {
    let wf = Some("lead-qualification");
    eventually(
        "dave (support member) may get the workflow",
        WAIT,
        || async {
            can_i(dave, "get", G, "workflows", sales, wf)
                .await
                .then_some(())
        },
    )
    .await;
    assert!(can_i(dave, "watch", G, "workflows", sales, wf).await);
    assert!(
        can_i(erin, "get", G, "workflows", sales, wf).await,
        "finance manager"
    );
    assert!(
        !can_i(frank, "get", G, "workflows", sales, wf).await,
        "outsider must be denied"
    );
    assert!(
        !can_i(dave, "list", G, "workflows", sales, None).await,
        "no list across the namespace"
    );
    assert!(
        !can_i(dave, "update", G, "workflows", sales, wf).await,
        "recipients never write"
    );
    assert!(!can_i(dave, "delete", G, "workflows", sales, wf).await);
    assert!(
        !can_i(dave, "get", "", "secrets", sales, Some("lead-history")).await,
        "never the training data"
    );
    assert!(
        !can_i(dave, "get", G, "workflows", sales, Some("another-workflow")).await,
        "only this workflow"
    );
    // The workspace's service accounts are recipients too.
    let robot = cp
        .impersonating(
            "system:serviceaccount:r1-support:bot",
            &["system:serviceaccounts:r1-support"],
        )
        .await;
    assert!(can_i(&robot, "get", G, "workflows", sales, wf).await);
}

/// The share's status once Ready (both grants active and notified), and the one
/// notification Event in support.
async fn share_is_ready_and_notified_once(
    admin: &Client,
    shares: &Api<WorkflowShare>,
    support: &str,
    finance: &str,
) {
    let status = eventually(
        "share status Ready with notifications recorded",
        WAIT,
        || async {
            let s = shares.get("lead-qualification").await.ok()?.status?;
            let ready = s
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            let workspaces: Vec<&str> = s.grants.iter().map(|g| g.workspace.as_str()).collect();
            let notified =
                notifications_recorded(admin, "r1-sales", "lead-qualification", &workspaces).await;
            (ready && notified).then_some(s)
        },
    )
    .await;
    assert_eq!(status.active_grants, 2);
    let workspaces: Vec<&str> = status.grants.iter().map(|g| g.workspace.as_str()).collect();
    assert_eq!(workspaces, vec![finance, support]);
    assert!(
        status
            .grants
            .iter()
            .all(|g| g.state == GrantState::Active && g.reason == "Granted")
    );

    let events: Api<Event> = Api::namespaced(admin.clone(), support);
    let notes: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("WorkflowShared"))
        .collect();
    assert_eq!(
        notes.len(),
        1,
        "exactly one notification for the support grant"
    );
    let note = notes[0].note.clone().unwrap_or_default();
    assert!(
        note.contains("lead-qualification") && note.contains(support),
        "note names workflow and workspace: {note}"
    );
}

/// Deletes the share and waits until it, its entry in finance and its Role and
/// RoleBinding in sales are gone.
async fn share_and_grants_go(
    admin: &Client,
    shares: &Api<WorkflowShare>,
    sales: &str,
    finance: &str,
    sw: &str,
) {
    shares
        .delete("lead-qualification", &DeleteParams::default())
        .await
        .expect("delete share");
    eventually("share and all grants gone", WAIT, || async {
        let gone_share = shares.get_opt("lead-qualification").await.ok()?.is_none();
        let gone_sw = !entry_exists(admin, finance, sw).await;
        let roles: Api<Role> = Api::namespaced(admin.clone(), sales);
        let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), sales);
        let gone_rbac = roles
            .get_opt("workflow-share.lead-qualification")
            .await
            .ok()?
            .is_none()
            && bindings
                .get_opt("workflow-share.lead-qualification")
                .await
                .ok()?
                .is_none();
        (gone_share && gone_sw && gone_rbac).then_some(())
    })
    .await;
}

#[tokio::test]
async fn bad_targets_are_reported_per_target_and_do_not_block_the_others() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("bt-sales", "bt-support");
    let mut objects = organization("bt-org", &[sales, support])
        .and(organization("bt-other-org", &["bt-elsewhere"]))
        .and(namespace("bt-plain"));
    objects += lead_workflow(sales, "forecast");
    objects += share(sales, "forecast")
        .workflow("forecast")
        .to_workspaces(&[support, "bt-elsewhere", "bt-plain", "bt-later"]);
    apply(&admin, &objects).await.expect("apply");

    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    let expected = [
        (support, GrantState::Active, "Granted"),
        ("bt-elsewhere", GrantState::Rejected, "OtherOrganization"),
        ("bt-plain", GrantState::Rejected, "NotAWorkspace"),
        ("bt-later", GrantState::Pending, "WorkspaceNotFound"),
    ];
    let mut last = None;
    let converged = async {
        for _ in 0..200 {
            if let Some(s) = shares.get("forecast").await.ok().and_then(|s| s.status) {
                let matches = expected.iter().all(|(ws, state, reason)| {
                    s.grants
                        .iter()
                        .any(|g| g.workspace == *ws && g.state == *state && g.reason == *reason)
                });
                if matches && s.grants.len() == expected.len() {
                    return Some(s);
                }
                last = Some(s);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        None
    };
    let status = converged
        .await
        .unwrap_or_else(|| panic!("per-target states never matched; last status: {last:#?}"));
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "TargetsRejected")
    );
    assert!(entry_exists(&admin, support, "bt-sales.forecast").await);
    assert!(!entry_exists(&admin, "bt-elsewhere", "bt-sales.forecast").await);

    // The pending workspace is granted when it appears in the organization.
    apply(&admin, &organization("bt-org", &["bt-later"]))
        .await
        .expect("create bt-later");
    eventually("bt-later granted after it appears", WAIT, || async {
        entry_exists(&admin, "bt-later", "bt-sales.forecast")
            .await
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_share_may_not_name_another_namespace() {
    let cp = control_plane();
    let admin = cp.admin().await;
    apply(&admin, &organization("ns-org", &["ns-sales"]))
        .await
        .expect("apply");
    let sneaky = share("ns-sales", "sneaky")
        .workflow("payroll")
        .ref_namespace("finance")
        .to_workspaces(&["ns-sales"]);
    let err = apply(&admin, &sneaky).await.expect_err("must be refused");
    let text = err.to_string();
    assert!(
        text.contains("spec.workflowRef.namespace"),
        "names the field: {text}"
    );
    assert!(text.contains("own namespace"), "says why: {text}");
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), "ns-sales");
    assert!(
        shares.get_opt("sneaky").await.expect("get").is_none(),
        "nothing partially applied"
    );
}

#[tokio::test]
async fn a_share_holds_the_grants_finalizer_from_its_creation() {
    let cp = control_plane();
    let admin = cp.admin().await;
    apply(&admin, &organization("fz-org", &["fz-sales", "fz-support"]))
        .await
        .expect("apply");
    let mut plan = share("fz-sales", "plan-trimestriel")
        .workflow("previsions")
        .to_workspaces(&["fz-support"])
        .build();
    plan.metadata.finalizers = Some(vec!["example.com/someone-elses".into()]);
    // Admission adds it before anything is stored: no moment without it, no write for it.
    let created = Api::<WorkflowShare>::namespaced(admin.clone(), "fz-sales")
        .create(
            &kube::api::PostParams {
                dry_run: true,
                ..Default::default()
            },
            &plan,
        )
        .await
        .expect("dry-run create");
    let mut finalizers = created.metadata.finalizers.unwrap_or_default();
    finalizers.sort();
    assert_eq!(
        finalizers,
        ["example.com/someone-elses", "sharing.workflows.dev/grants"],
        "ours added, theirs kept"
    );
}

#[tokio::test]
async fn named_people_read_the_workflow_while_it_is_shared() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, finance) = ("pp-sales", "pp-finance");
    let mut objects =
        organization("pp-org", &[sales, finance]).and(lead_workflow(sales, "forecast"));
    // People are reached within the organization: frank and the group finance-team
    // are bound in its finance workspace; mallory is in none of its workspaces.
    objects += member(finance, "member", "frank");
    objects +=
        role_binding(finance, "finance-team", workspace_role("member")).group("finance-team");
    objects += share(sales, "forecast")
        .workflow("forecast")
        .to_users(&["frank", "mallory"])
        .to_groups(&["finance-team"]);
    apply(&admin, &objects).await.expect("apply");
    let frank = cp.as_user("frank").await;
    let erin = cp.as_user("erin").await; // in group finance-team
    let bob = cp.as_user("bob").await;
    let wf = Some("forecast");
    eventually("frank may read", WAIT, || async {
        can_i(&frank, "get", G, "workflows", sales, wf)
            .await
            .then_some(())
    })
    .await;
    // The group's grant follows once the finance-team binding is seen, which may
    // be a moment after frank's.
    eventually("a group member may read", WAIT, || async {
        can_i(&erin, "get", G, "workflows", sales, wf)
            .await
            .then_some(())
    })
    .await;
    assert!(
        !can_i(&bob, "get", G, "workflows", sales, wf).await,
        "not named: no access"
    );
    let mallory = cp.impersonating("mallory", &[]).await;
    assert!(
        !can_i(&mallory, "get", G, "workflows", sales, wf).await,
        "outside the organization: no access"
    );
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    eventually("people outside the organization reported", WAIT, || async {
        let people = shares.get("forecast").await.ok()?.status?.people;
        let outside: Vec<&str> = people
            .iter()
            .filter(|p| p.state == GrantState::Rejected && p.reason == "NotInOrganization")
            .map(|p| p.name.as_str())
            .collect();
        (outside == ["mallory"]).then_some(())
    })
    .await;

    let workflows: Api<workflow_share::resources::Workflow> = Api::namespaced(admin.clone(), sales);
    workflows
        .patch(
            "forecast",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"archived": true}})),
        )
        .await
        .expect("archive");
    eventually("archived: people lose access", WAIT, || async {
        (!can_i(&frank, "get", G, "workflows", sales, wf).await).then_some(())
    })
    .await;
    // Access is withdrawn first; the share's status is written after it.
    eventually("the share reports its people suspended", WAIT, || async {
        let status = shares.get("forecast").await.ok()?.status?;
        (!status.people.is_empty()
            && status
                .people
                .iter()
                .filter(|p| p.reason != "NotInOrganization")
                .all(|p| p.state == GrantState::Suspended && p.reason == "WorkflowArchived"))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_share_itself_reports_what_was_granted_revoked_and_rejected() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support, finance) = ("ev-sales", "ev-support", "ev-finance");
    let digest_to = |workspaces: &[&str]| {
        share(sales, "digest")
            .workflow("digest")
            .to_workspaces(workspaces)
    };
    let objects = organization("ev-org", &[sales, support, finance])
        .and(organization("ev-other", &["ev-elsewhere"]))
        .and(workflow(sales, "digest"))
        .and(digest_to(&["ev-support", "ev-finance", "ev-elsewhere"]));
    apply(&admin, &objects).await.expect("share");
    let notes = |reason: &'static str| {
        let admin = admin.clone();
        async move {
            events_about(&admin, sales, reason, "digest")
                .await
                .into_iter()
                .filter(|e| {
                    e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("WorkflowShare")
                })
                .filter_map(|e| e.note)
                .collect::<Vec<_>>()
        }
    };
    let granted = eventually("granted and rejected reported", WAIT, || async {
        let granted = notes("Granted").await;
        (granted.len() == 1 && notes("Rejected").await.len() == 1).then_some(granted)
    })
    .await;
    assert_eq!(
        granted[0],
        "Workflow digest granted to 2 workspace(s): ev-finance, ev-support"
    );
    assert!(notes("Rejected").await[0].contains("ev-elsewhere (OtherOrganization)"));

    apply(&admin, &digest_to(&["ev-finance"]))
        .await
        .expect("revoke two");
    let revoked = eventually("revocation reported", WAIT, || async {
        let revoked = notes("Revoked").await;
        (revoked.len() == 1).then_some(revoked)
    })
    .await;
    assert_eq!(
        revoked[0],
        "Workflow digest revoked from 1 workspace(s): ev-support"
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        notes("Granted").await.len(),
        1,
        "one Event per change, not per sync"
    );
}

/// Many shares at once, as a GitOps sync applies them: each share reports its grants
/// once and each grant is notified once, however many syncs the burst queues.
#[tokio::test]
async fn a_burst_of_shares_reports_and_notifies_each_grant_once() {
    const WORKFLOWS: usize = 60;
    let cp = control_plane();
    let admin = cp.admin().await;
    let owner = "burst-owner";
    let recipients: Vec<String> = (0..10).map(|i| format!("burst-{i}")).collect();
    let mut workspaces = vec![owner];
    workspaces.extend(recipients.iter().map(String::as_str));
    let mut objects = Objects::of(organization("burst-org", &workspaces));
    let mut shares = Objects::default();
    for i in 0..WORKFLOWS {
        let name = format!("wf-{i}");
        objects += workflow(owner, &name).display_name(&format!("Übersicht {i}"));
        shares += share(owner, &name).workflow(&name).entire_organization();
    }
    apply(&admin, &objects)
        .await
        .expect("organization and workflows");
    apply(&admin, &shares).await.expect("shares");

    let api: Api<WorkflowShare> = Api::namespaced(admin.clone(), owner);
    eventually("every share grants every workspace", WAIT * 3, || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        (list.items.len() == WORKFLOWS
            && list.items.iter().all(|s| {
                s.status
                    .as_ref()
                    .is_some_and(|st| st.active_grants as usize == recipients.len())
            }))
        .then_some(())
    })
    .await;
    // Long enough for any sync the burst left queued to run and write.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    let events: Api<Event> = Api::namespaced(admin.clone(), owner);
    let mut reports = std::collections::BTreeMap::<String, usize>::new();
    for e in events
        .list(&ListParams::default())
        .await
        .expect("Events")
        .items
    {
        let regarding = e.regarding.unwrap_or_default();
        if e.reason.as_deref() == Some("Granted")
            && regarding.kind.as_deref() == Some("WorkflowShare")
        {
            *reports
                .entry(regarding.name.unwrap_or_default())
                .or_default() += 1;
        }
    }
    assert_eq!(
        reports.len(),
        WORKFLOWS,
        "every share reported: {reports:?}"
    );
    assert!(
        reports.values().all(|n| *n == 1),
        "each share reported once: {reports:?}"
    );
    for ws in &recipients {
        let notified = Api::<Event>::namespaced(admin.clone(), ws)
            .list(&ListParams::default())
            .await
            .expect("Events")
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("WorkflowShared"))
            .count();
        assert_eq!(notified, WORKFLOWS, "one notification per grant in {ws}");
    }
}
