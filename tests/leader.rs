//! Two replicas on the real API server: one leads and reconciles, the other is ready
//! and idle; a SIGKILLed leader is replaced within the lease duration without
//! duplicate notifications; SIGTERM hands the Lease over at once and frees the port.

mod support;

use std::time::{Duration, Instant};

use support::*;

fn ready(port: u16) -> bool {
    http_get(port, "/readyz").is_some_and(|r| r.starts_with("HTTP/1.1 200"))
}

async fn wait_until(what: &str, timeout: Duration, check: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn one_replica_leads_the_other_takes_over_when_it_dies_or_steps_down() {
    let cp = control_plane();
    let admin = cp.admin().await;
    assert!(leads(cp.metrics_port), "the first controller leads");

    // A second replica: ready, not leading.
    let standby_port = free_port();
    let mut standby = cp.spawn_controller("standby", standby_port, &[]);
    assert!(ready(standby_port), "a standby replica is ready");
    assert!(!leads(standby_port), "and idle");

    let objects = organization("le-org", &["le-sales", "le-support"])
        .and(workflow("le-sales", "plan"))
        .and(
            share("le-sales", "plan")
                .workflow("plan")
                .to_workspaces(&["le-support"]),
        );
    apply(&admin, &objects).await.expect("share");
    eventually("granted by the leader", WAIT, || async {
        entry_exists(&admin, "le-support", "le-sales.plan")
            .await
            .then_some(())
    })
    .await;

    eventually("the grant is notified", WAIT, || async {
        let n = events_about(&admin, "le-support", "WorkflowShared", "le-sales.plan").await;
        (!n.is_empty()).then_some(())
    })
    .await;
    // Converged: the leader has stopped writing.
    let mut writes = cp.controller_writes();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = cp.controller_writes();
        if now == writes {
            break;
        }
        writes = now;
    }
    assert_eq!(
        writes_at(standby_port),
        0,
        "the standby has written nothing"
    );

    // SIGKILL the leader: the standby takes over within the lease duration (4 s here).
    cp.stop_controller(true);
    let took = wait_until("the standby leads", Duration::from_secs(15), || {
        leads(standby_port)
    })
    .await;
    println!("hand-over after SIGKILL: {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    // The new leader reconciles everything it finds already converged: no writes
    // at all, so nothing is written twice across the hand-over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let syncs = metric_at(standby_port, "workflow_share_syncs_total");
    println!(
        "writes by the old leader: {writes}; by the new leader over that state: {} ({syncs} syncs)",
        writes_at(standby_port)
    );
    assert!(syncs > 0.0, "the new leader did reconcile");
    assert_eq!(
        writes_at(standby_port),
        0,
        "the new leader rewrote converged state"
    );
    let more = workflow("le-sales", "more").and(
        share("le-sales", "more")
            .workflow("more")
            .to_workspaces(&["le-support"]),
    );
    apply(&admin, &more).await.expect("another share");
    eventually("the new leader converges", WAIT, || async {
        entry_exists(&admin, "le-support", "le-sales.more")
            .await
            .then_some(())
    })
    .await;
    // The new leader finishes what the old one was doing, notifying exactly once.
    eventually("the grant is notified", WAIT, || async {
        let n = events_about(&admin, "le-support", "WorkflowShared", "le-sales.plan").await;
        (!n.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let notified = events_about(&admin, "le-support", "WorkflowShared", "le-sales.plan").await;
    assert_eq!(
        notified.len(),
        1,
        "no duplicate notification after the hand-over"
    );

    // A replica that comes back waits as a standby; SIGTERM on the leader hands over
    // at once (the Lease is released, not left to expire) and frees its port.
    cp.start_controller_standby();
    assert!(!leads(cp.metrics_port), "the returning replica waits");
    let stop = Instant::now();
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(standby.id().to_string())
        .status();
    let status = standby.wait().expect("standby exit");
    let exited = stop.elapsed();
    assert!(status.success(), "a SIGTERM stop exits 0: {status}");
    assert!(
        exited < Duration::from_secs(3),
        "prompt shutdown: {exited:?}"
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", standby_port)).is_ok(),
        "the metrics port is free again"
    );
    // The Lease was given up on the way out, not left to expire.
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(admin.clone(), "workflow-share-system");
    let lease = leases.get("workflow-share").await.expect("lease");
    let holder = lease
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    assert!(
        !holder.contains(&format!("_{}", standby.id())),
        "released on SIGTERM, holder now {holder:?}"
    );
    let took = wait_until("the other replica leads", Duration::from_secs(10), || {
        leads(cp.metrics_port)
    })
    .await;
    println!("hand-over after SIGTERM: {took:?} (exit took {exited:?})");
}
