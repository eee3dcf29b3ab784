//! Names in any script and of any length never stop the controller, a panic in one
//! reconcile stays with its object, and a failure outside the reconciles ends the
//! process (so Kubernetes restarts it) instead of leaving it answering probes while
//! converging nothing. The controller of this binary runs with the test-only fault
//! hooks of the `fault-injection` feature armed for the workflows named below.

mod support;

use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::*;
use workflow_share::resources::{GrantState, SharedWorkflow, WorkflowShare};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every sync of this workflow panics.
const PANICS_IN_SYNC: &str = "px-sales/boom";

fn cp() -> &'static ControlPlane {
    control_plane_with_env(&[("WORKFLOW_SHARE_FAULT_PANIC_IN_SYNC", PANICS_IN_SYNC)])
}

fn is_ok(response: Option<String>) -> bool {
    response.is_some_and(|r| r.starts_with("HTTP/1.1 200"))
}

async fn share_status(
    api: &Api<WorkflowShare>,
    name: &str,
) -> Option<workflow_share::resources::WorkflowShareStatus> {
    api.get(name).await.ok()?.status
}

#[tokio::test]
async fn long_non_ascii_names_converge_notify_once_and_revoke() {
    let _serial = SERIAL.lock().await;
    let cp = cp();
    let admin = cp.admin().await;
    let yamada = cp.as_user("yamada").await;
    let sharer = yamada_name();
    let sales = "nx-sales";
    // One recipient workspace per UTF-8 width; six managers with long names each,
    // so that naming them all takes far more than an Event note's 1 KB.
    let recipients = [
        ("nx-2b", "Zoë Ångström"),
        ("nx-3b", "山田太郎"),
        ("nx-4b", "𝓐𝓵𝓲𝓬𝓮🙂"),
    ];
    let managers_of = |base: &str| -> Vec<String> {
        (0..6)
            .map(|i| format!("{} {i}", [base; 12].join(" ")))
            .collect()
    };
    let mut objects = organization("nx-org", &[sales, "nx-2b", "nx-3b", "nx-4b"])
        .and(role_binding(sales, "owner-yamada", workspace_role("owner")).user(&sharer));
    for (ws, base) in recipients {
        objects +=
            role_binding(ws, "managers", workspace_role("manager")).users(&managers_of(base));
    }
    apply(&admin, &objects).await.expect("organization");

    // The owner with the long name creates and shares a workflow whose texts are non-ASCII too.
    let forecast = workflow(sales, "forecast")
        .display_name("Prévision trimestrielle — 四半期予測 𝓕")
        .of_type("Rapport 報告")
        .description("Ça prévoit les ventes; 売上を予測します 📈");
    let forecast_to = |workspaces: &[&str]| {
        share(sales, "forecast")
            .workflow("forecast")
            .to_workspaces(workspaces)
    };
    apply(
        &yamada,
        &forecast.and(forecast_to(&["nx-2b", "nx-3b", "nx-4b"])),
    )
    .await
    .expect("yamada shares");

    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    let status = eventually("all three granted and Ready", WAIT, || async {
        let s = share_status(&shares, "forecast").await?;
        let ready = s
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let active = s.grants.iter().all(|g| g.state == GrantState::Active);
        let workspaces: Vec<&str> = s.grants.iter().map(|g| g.workspace.as_str()).collect();
        let notified = notifications_recorded(&admin, sales, "forecast", &workspaces).await;
        (ready && s.grants.len() == 3 && active && notified).then_some(s)
    })
    .await;
    assert_eq!(status.shared_by.as_deref(), Some(sharer.as_str()));

    for (ws, base) in recipients {
        let entries: Api<SharedWorkflow> = Api::namespaced(admin.clone(), ws);
        let entry = entries
            .get("nx-sales.forecast")
            .await
            .expect("library entry");
        assert_eq!(entry.spec.shared_by, sharer, "the full name, uncut");
        assert_eq!(
            entry.spec.display_name,
            "Prévision trimestrielle — 四半期予測 𝓕"
        );
        let notes = events_about(&admin, ws, "WorkflowShared", "nx-sales.forecast").await;
        assert_eq!(notes.len(), 1, "one notification in {ws}");
        let note = notes[0].note.clone().unwrap_or_default();
        assert!(note.len() <= 1024, "{} bytes", note.len());
        assert!(note.contains(base), "names a manager: {note}");
        assert!(
            note.contains("more."),
            "counts the managers left out: {note}"
        );
        let manager = &managers_of(base)[0];
        assert!(
            can_user(&admin, manager, "get", "workflows", sales, Some("forecast")).await,
            "{ws}'s manager reads the workflow"
        );
    }

    // Applying the same share again notifies nobody again.
    apply(&yamada, &forecast_to(&["nx-2b", "nx-3b", "nx-4b"]))
        .await
        .expect("re-apply");
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (ws, _) in recipients {
        let notes = events_about(&admin, ws, "WorkflowShared", "nx-sales.forecast").await;
        assert_eq!(notes.len(), 1, "still one notification in {ws}");
    }

    // A later revoke converges: the entry and the access are gone, the others stay.
    apply(&yamada, &forecast_to(&["nx-2b", "nx-3b"]))
        .await
        .expect("revoke nx-4b");
    let four_byte_manager = &managers_of(recipients[2].1)[0];
    eventually("nx-4b revoked", WAIT, || async {
        let s = share_status(&shares, "forecast").await?;
        let gone = !entry_exists(&admin, "nx-4b", "nx-sales.forecast").await;
        let no_access = !can_user(
            &admin,
            four_byte_manager,
            "get",
            "workflows",
            sales,
            Some("forecast"),
        )
        .await;
        (gone && no_access && s.active_grants == 2).then_some(())
    })
    .await;
    assert!(entry_exists(&admin, "nx-2b", "nx-sales.forecast").await);
    assert!(
        can_user(
            &admin,
            &managers_of("山田太郎")[5],
            "get",
            "workflows",
            sales,
            Some("forecast")
        )
        .await
    );
}

#[tokio::test]
async fn a_panicking_reconcile_is_reported_on_its_object_and_the_rest_converges() {
    let _serial = SERIAL.lock().await;
    let cp = cp();
    let admin = cp.admin().await;
    let (sales, support) = ("px-sales", "px-support");
    let mut objects = Objects::of(organization("px-org", &[sales, support, "px-finance"]));
    for name in ["boom", "fine"] {
        objects += workflow(sales, name);
        objects += share(sales, name).workflow(name).to_workspaces(&[support]);
    }
    apply(&admin, &objects).await.expect("apply");
    assert_eq!(PANICS_IN_SYNC, format!("{sales}/boom"));

    // The healthy workflow converges beside the one whose sync panics.
    eventually("fine granted", WAIT, || async {
        entry_exists(&admin, support, "px-sales.fine")
            .await
            .then_some(())
    })
    .await;
    // The panic is reported on the object, once, counting its repetitions.
    // (The share of the same name may be reported too, when its controller happens
    // to sync the workflow before the workflow's own controller does.)
    let on_workflow = || async {
        events_about(&admin, sales, "ReconcilePanicked", "boom")
            .await
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("Workflow"))
            .collect::<Vec<_>>()
    };
    let warning = eventually("a Warning Event on boom", WAIT, || async {
        let events = on_workflow().await;
        (events.len() == 1).then(|| events[0].clone())
    })
    .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let note = warning.note.clone().unwrap_or_default();
    assert!(
        note.contains("injected fault") && note.contains("«Zoë»"),
        "{note}"
    );
    eventually("retried with backoff, one Event counting", WAIT, || async {
        let events = on_workflow().await;
        let count = events.first()?.series.as_ref()?.count;
        (events.len() == 1 && count >= 2).then_some(())
    })
    .await;
    assert!(!entry_exists(&admin, support, "px-sales.boom").await);
    assert!(cp.metric("workflow_share_reconcile_panics_total{kind=\"Workflow\"}") >= 2.0);
    assert!(is_ok(http_get(cp.metrics_port, "/healthz")), "alive");
    assert!(is_ok(http_get(cp.metrics_port, "/readyz")), "ready");

    // Later changes to other objects still converge.
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    shares
        .patch(
            "fine",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"workspaces": ["px-finance"]}})),
        )
        .await
        .expect("edit fine");
    eventually("the edit converges", WAIT, || async {
        let moved = entry_exists(&admin, "px-finance", "px-sales.fine").await
            && !entry_exists(&admin, support, "px-sales.fine").await;
        moved.then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_failure_outside_reconciles_fails_health_and_exits_non_zero() {
    let _serial = SERIAL.lock().await;
    let cp = cp();
    let admin = cp.admin().await;
    let sales = "fx-sales";
    apply(&admin, &organization("fx-org", &[sales]))
        .await
        .expect("organization");

    // A second controller whose workflow watch panics on an event for fx-sales/fatal.
    let port = free_port();
    let mut doomed = cp.spawn_controller(
        "doomed-controller",
        port,
        &[("WORKFLOW_SHARE_FAULT_PANIC_IN_WATCH", "fx-sales/fatal")],
    );
    assert!(is_ok(http_get(port, "/healthz")), "alive before the fault");
    apply(&admin, &workflow(sales, "fatal"))
        .await
        .expect("workflow");

    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = doomed.try_wait().expect("wait") {
            break status;
        }
        assert!(start.elapsed() < WAIT, "the controller did not exit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!status.success(), "exit status {status}");
    assert!(
        !is_ok(http_get(port, "/healthz")),
        "nothing answers healthy"
    );
    let log = std::fs::read_to_string(cp.dir.join("doomed-controller.log")).expect("log");
    assert!(
        log.contains("a controller task panicked: injected fault in the workflow watch"),
        "says why it stopped"
    );
    assert!(log.contains("controller failed; exiting"), "{log}");

    // The regular controller was not affected.
    assert!(is_ok(http_get(cp.metrics_port, "/healthz")));
    let workflows: Api<workflow_share::resources::Workflow> = Api::namespaced(admin.clone(), sales);
    workflows
        .delete("fatal", &DeleteParams::default())
        .await
        .expect("delete");
}
