//! Organization-wide scope, archival, de-identification, exactly-once notifications and
//! zero-write convergence, with controller restarts and crashes. Tests here share one
//! controller that some of them restart, so they run one at a time.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::Role;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::*;
use workflow_share::labels::STATE;
use workflow_share::resources::{GrantState, GrantVia, SharedWorkflow, Workflow, WorkflowShare};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const G: &str = "sharing.workflows.dev";

/// A de-identified workflow.
fn deidentified(ns: &str, name: &str) -> Builder<Workflow> {
    workflow(ns, name).deidentified(true)
}

/// A share of the workflow of the same name.
fn share_of(ns: &str, name: &str) -> Builder<WorkflowShare> {
    share(ns, name).workflow(name)
}

async fn notifications(admin: &kube::Client, ns: &str, entry: &str) -> usize {
    events_about(admin, ns, "WorkflowShared", entry).await.len()
}

async fn set_workflow(admin: &kube::Client, ns: &str, name: &str, spec: serde_json::Value) {
    let api: Api<Workflow> = Api::namespaced(admin.clone(), ns);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": spec })),
    )
    .await
    .expect("patch workflow");
}

#[tokio::test]
async fn organization_wide_shares_follow_workspaces_joining_and_leaving() {
    let _serial = SERIAL.lock().await;
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("ow-sales", "ow-support");
    let objects = organization("ow-org", &[sales, support])
        .and(deidentified(sales, "handbook"))
        .and(share_of(sales, "handbook").entire_organization())
        .and(member(support, "member", "sam"))
        .and(member(sales, "member", "sven"));
    apply(&admin, &objects).await.expect("apply");
    let entry = "ow-sales.handbook";
    let wf = Some("handbook");
    let (sam, sven, lena) = (
        cp.impersonating("sam", &[]).await,
        cp.impersonating("sven", &[]).await,
        cp.impersonating("lena", &[]).await,
    );
    eventually("existing workspace granted", WAIT, || async {
        (entry_exists(&admin, support, entry).await
            && can_i(&sam, "get", G, "workflows", sales, wf).await)
            .then_some(())
    })
    .await;
    // (Their membership may reach the controller a moment after the others'.)
    eventually("the owner's own members read it", WAIT, || async {
        can_i(&sven, "get", G, "workflows", sales, wf)
            .await
            .then_some(())
    })
    .await;
    assert!(
        !entry_exists(&admin, sales, entry).await,
        "never the owner itself"
    );

    // A namespace created with the label joins; one labelled later joins too.
    apply(&admin, &organization("ow-org", &["ow-new"]))
        .await
        .expect("new workspace");
    apply(
        &admin,
        &namespace("ow-late").and(member("ow-late", "member", "lena")),
    )
    .await
    .expect("plain namespace");
    eventually("created workspace granted", WAIT, || async {
        entry_exists(&admin, "ow-new", entry).await.then_some(())
    })
    .await;
    assert!(!entry_exists(&admin, "ow-late", entry).await);
    assert!(
        !can_i(&lena, "get", G, "workflows", sales, wf).await,
        "not in the organization yet"
    );
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let label = |value: serde_json::Value| json!({"metadata": {"labels": {"sharing.workflows.dev/organization": value}}});
    namespaces
        .patch(
            "ow-late",
            &PatchParams::default(),
            &Patch::Merge(label(json!("ow-org"))),
        )
        .await
        .expect("label");
    eventually("labelled workspace granted", WAIT, || async {
        (entry_exists(&admin, "ow-late", entry).await
            && can_i(&lena, "get", G, "workflows", sales, wf).await)
            .then_some(())
    })
    .await;

    // The organization readers grant, deleted by someone, comes back.
    let readers = "workflow-share-organization-readers";
    Api::<Role>::namespaced(admin.clone(), sales)
        .delete(readers, &Default::default())
        .await
        .expect("delete the readers Role");
    eventually("readers grant restored", WAIT, || async {
        let role = Api::<Role>::namespaced(admin.clone(), sales)
            .get_opt(readers)
            .await
            .ok()??;
        let listed = role.rules?.first()?.resource_names.clone()?;
        (listed == ["handbook"] && can_i(&lena, "get", G, "workflows", sales, wf).await)
            .then_some(())
    })
    .await;

    // Leaving the organization removes the org-derived grant.
    namespaces
        .patch(
            "ow-late",
            &PatchParams::default(),
            &Patch::Merge(label(serde_json::Value::Null)),
        )
        .await
        .expect("unlabel");
    eventually("left workspace revoked", WAIT, || async {
        (!entry_exists(&admin, "ow-late", entry).await
            && !can_i(&lena, "get", G, "workflows", sales, wf).await)
            .then_some(())
    })
    .await;

    // The Organization lists its workspaces.
    let orgs: Api<workflow_share::resources::Organization> = Api::all(admin.clone());
    eventually("organization status lists its workspaces", WAIT, || async {
        let st = orgs.get("ow-org").await.ok()?.status?;
        (st.workspaces == vec!["ow-new", "ow-sales", "ow-support"] && st.workspace_count == 3)
            .then_some(())
    })
    .await;

    // Toggle off with one explicit workspace kept: only that one stays.
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    shares
        .patch(
            "handbook",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"entireOrganization": false, "workspaces": [support]}})),
        )
        .await
        .expect("toggle off");
    eventually(
        "org-derived grants revoked, explicit kept",
        WAIT,
        || async {
            let gone = !entry_exists(&admin, "ow-new", entry).await;
            let kept = entry_exists(&admin, support, entry).await;
            let s = shares.get("handbook").await.ok()?.status?;
            let via_ok = s.grants.len() == 1 && s.grants[0].via == vec![GrantVia::Explicit];
            let owner_members_out = !can_i(&sven, "get", G, "workflows", sales, wf).await;
            (gone && kept && via_ok && owner_members_out).then_some(())
        },
    )
    .await;
    assert!(
        can_i(&sam, "get", G, "workflows", sales, wf).await,
        "the explicitly granted workspace still reads it"
    );
}

#[tokio::test]
async fn membership_changes_update_who_may_read() {
    let _serial = SERIAL.lock().await;
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("mb-sales", "mb-support");
    let objects = organization("mb-org", &[sales, support])
        .and(deidentified(sales, "playbook"))
        .and(share_of(sales, "playbook").to_workspaces(&["mb-support"]));
    apply(&admin, &objects).await.expect("apply");
    let carol = cp.as_user("carol").await;
    let wf = Some("playbook");
    eventually("grant in place", WAIT, || async {
        entry_exists(&admin, support, "mb-sales.playbook")
            .await
            .then_some(())
    })
    .await;
    assert!(
        !can_i(&carol, "get", G, "workflows", sales, wf).await,
        "not a member yet"
    );
    apply(&admin, &member(support, "member", "carol"))
        .await
        .expect("carol joins support");
    eventually("new member may read", WAIT, || async {
        can_i(&carol, "get", G, "workflows", sales, wf)
            .await
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn archival_and_deidentification_suspend_and_restore_without_new_notifications() {
    let _serial = SERIAL.lock().await;
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("ar-sales", "ar-support");
    let objects = organization("ar-org", &[sales, support])
        .and(member(support, "member", "dave"))
        .and(deidentified(sales, "scoring"))
        .and(share_of(sales, "scoring").to_workspaces(&["ar-support"]));
    apply(&admin, &objects).await.expect("apply");
    let entry = "ar-sales.scoring";
    let dave = cp.as_user("dave").await;
    let wf = Some("scoring");
    eventually("granted and notified", WAIT, || async {
        (entry_exists(&admin, support, entry).await
            && notifications(&admin, support, entry).await == 1)
            .then_some(())
    })
    .await;
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    let spec_before = shares.get("scoring").await.expect("share").spec;
    // dave enables it in support's library; that choice must survive suspension.
    let entries: Api<SharedWorkflow> = Api::namespaced(dave.clone(), support);
    entries
        .patch(
            entry,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"enabled": true}})),
        )
        .await
        .expect("dave enables");

    for (what, suspend, restore, reason) in [
        (
            "archive",
            json!({"archived": true}),
            json!({"archived": false}),
            "WorkflowArchived",
        ),
        (
            "de-identification off",
            json!({"deidentification": {"enabled": false}}),
            json!({"deidentification": {"enabled": true}}),
            "DeidentificationRequired",
        ),
    ] {
        set_workflow(&admin, sales, "scoring", suspend).await;
        eventually(&format!("{what}: access removed"), WAIT, || async {
            let s = shares.get("scoring").await.ok()?.status?;
            let suspended = s
                .grants
                .iter()
                .all(|g| g.state == GrantState::Suspended && g.reason == reason);
            // The entry stays, marked suspended (and labelled so), granting nothing.
            let marked = entries.get(entry).await.ok().is_some_and(|e| {
                e.spec.suspended.as_deref() == Some(reason)
                    && e.labels().get(STATE).map(String::as_str) == Some("Suspended")
            });
            let denied = !can_i(&dave, "get", G, "workflows", sales, wf).await;
            (suspended && marked && denied).then_some(())
        })
        .await;
        assert_eq!(
            shares.get("scoring").await.expect("share").spec,
            spec_before,
            "{what}: share spec untouched"
        );

        set_workflow(&admin, sales, "scoring", restore).await;
        eventually(&format!("{what}: access reinstated"), WAIT, || async {
            let back = entries.get(entry).await.ok().is_some_and(|e| {
                e.spec.suspended.is_none()
                    && e.labels().get(STATE).map(String::as_str) == Some("Active")
            });
            let allowed = can_i(&dave, "get", G, "workflows", sales, wf).await;
            (back && allowed).then_some(())
        })
        .await;
        assert_eq!(
            entries.get(entry).await.expect("entry").spec.enabled,
            Some(true),
            "{what}: dave's choice survives"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            notifications(&admin, support, entry).await,
            1,
            "{what}: restoring does not notify again"
        );
    }
}

#[tokio::test]
async fn notifications_are_sent_exactly_once_across_reapply_restart_and_crashes() {
    let _serial = SERIAL.lock().await;
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("nt-sales", "nt-support");
    let digest = share_of(sales, "digest").to_workspaces(&["nt-support"]);
    let objects = organization("nt-org", &[sales, support])
        .and(deidentified(sales, "digest"))
        .and(digest.clone());
    apply(&admin, &objects).await.expect("apply");
    let entry = "nt-sales.digest";
    eventually("notified", WAIT, || async {
        (notifications(&admin, support, entry).await == 1).then_some(())
    })
    .await;

    apply(&admin, &digest).await.expect("re-apply unchanged");
    cp.stop_controller(false);
    cp.start_controller();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        notifications(&admin, support, entry).await,
        1,
        "re-apply and restart do not notify again"
    );

    // Crash the controller at different moments right after new grants are declared.
    for (i, delay_ms) in [0u64, 30, 80, 150, 300].into_iter().enumerate() {
        let name = format!("digest-{i}");
        let shared =
            deidentified(sales, &name).and(share_of(sales, &name).to_workspaces(&["nt-support"]));
        apply(&admin, &shared).await.expect("apply");
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        cp.stop_controller(true);
        cp.start_controller();
        let entry = format!("nt-sales.{name}");
        eventually("notified after crash", WAIT, || async {
            (notifications(&admin, support, &entry).await >= 1).then_some(())
        })
        .await;
        eventually("notification recorded", WAIT, || async {
            notifications_recorded(&admin, sales, &name, &[support])
                .await
                .then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            notifications(&admin, support, &entry).await,
            1,
            "crash after {delay_ms}ms: exactly one notification"
        );
    }

    // Revoked, then granted again: that is a new grant and notifies again.
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    shares
        .patch(
            "digest",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"workspaces": []}})),
        )
        .await
        .expect("revoke");
    eventually("revoked", WAIT, || async {
        (!entry_exists(&admin, support, entry).await).then_some(())
    })
    .await;
    shares
        .patch(
            "digest",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"workspaces": [support]}})),
        )
        .await
        .expect("grant again");
    eventually("notified again", WAIT, || async {
        (notifications(&admin, support, entry).await == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_converged_cluster_sees_no_writes_on_resync_or_restart() {
    let _serial = SERIAL.lock().await;
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support, finance) = ("zw-sales", "zw-support", "zw-finance");
    let report = share_of(sales, "report")
        .to_workspaces(&["zw-support"])
        .entire_organization();
    let objects = organization("zw-org", &[sales, support, finance])
        .and(member(support, "member", "dave"))
        .and(deidentified(sales, "report"))
        .and(report.clone());
    apply(&admin, &objects).await.expect("apply");
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    eventually("converged", WAIT, || async {
        let s = shares.get("report").await.ok()?.status?;
        let recipients: Vec<&str> = s.grants.iter().map(|g| g.workspace.as_str()).collect();
        let notified = notifications_recorded(&admin, sales, "report", &recipients).await;
        (s.active_grants == 2 && notified).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Restart over the converged cluster: every workflow is synced again, nothing is written.
    cp.stop_controller(false);
    cp.start_controller();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cp.controller_writes(),
        0,
        "restart over a converged cluster must not write"
    );

    // Events that wake the sync without changing what it should produce.
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    namespaces
        .patch(
            support,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"touched": "yes"}}})),
        )
        .await
        .expect("touch namespace");
    apply(&admin, &report).await.expect("re-apply");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cp.controller_writes(),
        0,
        "re-syncing a converged state must not write"
    );
}

#[tokio::test]
async fn auditors_and_coordinators_follow_workspaces_and_the_organization_spec() {
    let _serial = SERIAL.lock().await;
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, late) = ("au-sales", "au-late");
    apply(&admin, &organization("au-org", &[sales]))
        .await
        .expect("organization");
    let orgs: Api<workflow_share::resources::Organization> = Api::all(admin.clone());
    let set_roles = |auditors: serde_json::Value, coordinators: serde_json::Value| {
        let orgs = orgs.clone();
        async move {
            orgs.patch(
                "au-org",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"auditors": auditors, "coordinators": coordinators}}),
                ),
            )
            .await
            .expect("organization roles");
        }
    };
    set_roles(
        json!([{"kind": "User", "name": "erin"}]),
        json!([{"kind": "User", "name": "carol"}]),
    )
    .await;
    let erin = cp.as_user("erin").await;
    let carol = cp.as_user("carol").await;
    let audits = |ns: &'static str| {
        let erin = erin.clone();
        async move { can_i(&erin, "list", G, "workflows", ns, None).await }
    };
    let coordinates = |ns: &'static str| {
        let carol = carol.clone();
        async move { can_i(&carol, "share", G, "workflows", ns, Some("any")).await }
    };
    eventually("auditor and coordinator in the workspace", WAIT, || async {
        (audits(sales).await && coordinates(sales).await).then_some(())
    })
    .await;
    assert!(
        !can_i(&erin, "patch", G, "workflows", sales, Some("any")).await,
        "auditors never write"
    );
    assert!(
        !can_i(&erin, "get", "", "secrets", sales, None).await,
        "never the training data"
    );

    // A workspace that joins later gets them within seconds; one that leaves loses them.
    apply(&admin, &organization("au-org", &[late]))
        .await
        .expect("join");
    eventually("granted in the joining workspace", WAIT, || async {
        (audits(late).await && coordinates(late).await).then_some(())
    })
    .await;
    leave_organization(&admin, late).await;
    eventually("removed from the workspace that left", WAIT, || async {
        (!audits(late).await && !coordinates(late).await).then_some(())
    })
    .await;

    // Removed from the lists: removed everywhere.
    set_roles(json!([]), json!([])).await;
    eventually("auditor and coordinator removed", WAIT, || async {
        (!audits(sales).await && !coordinates(sales).await).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_controller_down_across_a_scheduled_time_fires_it_exactly_once() {
    use workflow_share::resources::{Trigger, WorkflowRun};
    let _serial = SERIAL.lock().await;
    let cp = control_plane();
    let admin = cp.admin().await;
    let sales = "cr-sales";
    let objects = organization("cr-org", &[sales])
        .and(deidentified(sales, "nightly"))
        .and(
            trigger(sales, "every-minute")
                .workflow("nightly")
                .schedule("* * * * *"),
        );
    apply(&admin, &objects).await.expect("trigger");
    let triggers: Api<Trigger> = Api::namespaced(admin.clone(), sales);
    let next: jiff::Timestamp = eventually("next fire known", WAIT, || async {
        triggers
            .get("every-minute")
            .await
            .ok()?
            .status?
            .next_fire_time?
            .parse()
            .ok()
    })
    .await;

    // Down (a crash) across that time; back a little after it.
    cp.stop_controller(true);
    let wait = next.duration_since(jiff::Timestamp::now()).as_secs().max(0) as u64 + 3;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    cp.start_controller();
    let runs: Api<WorkflowRun> = Api::namespaced(admin.clone(), sales);
    let at = next.to_string();
    let of_that_time = || async {
        runs.list(&Default::default())
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .filter(|r| r.spec.scheduled_time.as_deref() == Some(at.as_str()))
                    .count()
            })
            .unwrap_or(0)
    };
    eventually("the missed fire is made up", WAIT, || async {
        (of_that_time().await == 1).then_some(())
    })
    .await;
    // Another crash and restart: still exactly one run for that time.
    cp.stop_controller(true);
    cp.start_controller();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(of_that_time().await, 1, "never fired twice");
    let all = runs.list(&Default::default()).await.expect("runs").items;
    let mut times: Vec<_> = all
        .iter()
        .filter_map(|r| r.spec.scheduled_time.clone())
        .collect();
    let count = times.len();
    times.sort();
    times.dedup();
    assert_eq!(times.len(), count, "one run per scheduled time");
}
