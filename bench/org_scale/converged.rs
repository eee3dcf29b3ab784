//! The measures over the converged organization, at the largest point of the curve:
//! workspaces joining, single share changes, revocations, an API server restart and
//! a controller restart.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use workflow_share::resources::{SharedWorkflow, Workflow, WorkflowRun, WorkflowShare};

use crate::cluster::{Cluster, Controller};
use crate::controller_run::{ORG, SRC};
use crate::measures::{Measured, Requests, dump_metrics, p50, p99};
use crate::scenario::{Scenario, create_all, join_count, manager, namespace, workspace};
use crate::watch::{Arrivals, seen, wait_for};
use crate::{GROUP, Res, repo, run};

/// Revocations timed per run (each takes a few seconds: a refused run is decided
/// after the controller's grace period for caches behind the API server).
pub const REVOCATIONS: usize = 20;

/// The workflow whose share changes and is revoked.
const PROBE: &str = "probe";

/// Workspaces join, one after the other: a manager, then the label. One join takes
/// about a second, so the median of several is reported.
pub async fn joins(
    cluster: &Cluster,
    controller: &Controller,
    arrivals: &Arc<Mutex<Arrivals>>,
    sc: Scenario,
    m: &mut Measured,
) -> Res<()> {
    let c = &cluster.admin;
    eprintln!("bench: workspaces join");
    let mut joins = Vec::new();
    let before_joins = Requests::now(c).await?;
    for j in 0..join_count() {
        joins.push(join(cluster, controller, arrivals, sc, j).await?);
    }
    joins.sort();
    m.join = p50(&joins);
    controller.settle(Duration::from_secs(2)).await;
    // Less the benchmark's own: a namespace, a manager and a label per join.
    let own = [
        ("POST", "namespaces", join_count() as u64),
        ("POST", "rolebindings", join_count() as u64),
        ("PATCH", "namespaces", join_count() as u64),
    ];
    m.join_requests = Some(Requests::now(c).await?.since(&before_joins, &own));
    Ok(())
}

/// Workspace `bench-join-<j>` joins the organization once the controller is idle;
/// returns the time until its whole library exists.
async fn join(
    cluster: &Cluster,
    controller: &Controller,
    arrivals: &Arc<Mutex<Arrivals>>,
    sc: Scenario,
    j: usize,
) -> Res<Duration> {
    let c = &cluster.admin;
    let joining = format!("bench-join-{j}");
    create_all::<Namespace>(c, vec![namespace(&joining, None)]).await?;
    create_all::<RoleBinding>(c, vec![manager(&joining, &format!("manager-join-{j}"))]).await?;
    controller.settle(Duration::from_secs(2)).await;
    let requests_before = Requests::now(c).await?;
    dump_metrics(c, &joining, "before").await;
    // The metrics just read are megabytes the API server just wrote: give its
    // garbage collector a moment, as before the raw joins.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let syncs = controller.counter("workflow_share_syncs_total");
    let start = Instant::now();
    let (cpu, server_cpu) = (controller.cpu_seconds(), cluster.server_cpu_seconds());
    eprintln!("bench: {joining} joins at {}", jiff::Timestamp::now());
    Api::<Namespace>::all(c.clone())
        .patch(
            &joining,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"sharing.workflows.dev/organization": ORG}}}),
            ),
        )
        .await?;
    let want = sc.workflows;
    wait_for("the joining workspace's library", sc.limit(), || {
        seen(arrivals)
            .per_namespace
            .get(&joining)
            .copied()
            .unwrap_or(0)
            >= want
    })
    .await?;
    let took = start.elapsed();
    let first = seen(arrivals)
        .last
        .iter()
        .filter(|((ns, _), _)| *ns == joining)
        .map(|(_, at)| at.duration_since(start))
        .min();
    eprintln!(
        "bench: {joining}: library complete after {:?} (first entry after {first:?}; \
         syncs {}; CPU seconds meanwhile: controller {:.2}, API server and etcd {:.2})",
        start.elapsed(),
        controller.counter("workflow_share_syncs_total") - syncs,
        controller.cpu_seconds() - cpu,
        cluster.server_cpu_seconds() - server_cpu,
    );
    dump_metrics(c, &joining, "after").await;
    // What the API server served until then (read a moment after, so a little more).
    let served = Requests::now(c)
        .await?
        .since(&requests_before, &[("PATCH", "namespaces", 1)]);
    let mut served: Vec<_> = served.by_resource.into_iter().collect();
    served.sort_by_key(|s| std::cmp::Reverse(s.1));
    let served: Vec<String> = served
        .iter()
        .take(8)
        .map(|((verb, resource), n)| format!("{} {resource} {n}", verb.to_lowercase()))
        .collect();
    eprintln!(
        "bench: {joining}: requests until then: {}",
        served.join(", ")
    );
    Ok(took)
}

/// The probe's share, granting it to `workspaces`.
fn probe_share(workspaces: &[&str]) -> Value {
    json!({"apiVersion": GROUP, "kind": "WorkflowShare",
        "metadata": {"name": PROBE, "namespace": SRC},
        "spec": {"workflowRef": {"name": PROBE}, "workspaces": workspaces}})
}

/// One share change under the converged organization, 100 times: from the write to
/// the entry's watch event.
pub async fn share_changes(
    c: &Client,
    controller: &Controller,
    arrivals: &Arc<Mutex<Arrivals>>,
    sc: Scenario,
    m: &mut Measured,
) -> Res<()> {
    eprintln!("bench: single share changes");
    create_all::<Workflow>(
        c,
        vec![json!({"apiVersion": GROUP, "kind": "Workflow",
            "metadata": {"name": PROBE, "namespace": SRC},
            "spec": {"displayName": PROBE, "type": "Agent"}})],
    )
    .await?;
    controller.settle(Duration::from_secs(2)).await;
    let shares: Api<WorkflowShare> = Api::namespaced(c.clone(), SRC);
    let mut latencies = Vec::new();
    for i in 0..100 {
        let target = workspace("bench", i % sc.workspaces.max(1));
        let key = (target.clone(), format!("{SRC}.{PROBE}"));
        let body = probe_share(&[&target]);
        let sent = Instant::now();
        shares
            .patch(PROBE, &PatchParams::apply("bench"), &Patch::Apply(&body))
            .await?;
        wait_for("the changed grant", Duration::from_secs(60), || {
            seen(arrivals).last.get(&key).is_some_and(|t| *t >= sent)
        })
        .await?;
        let at = seen(arrivals).last.get(&key).copied().unwrap_or(sent);
        latencies.push(at.duration_since(sent));
    }
    latencies.sort();
    m.change_p50 = p50(&latencies);
    m.change_p99 = p99(&latencies);
    controller.settle(Duration::from_secs(2)).await;
    Ok(())
}

/// Revocation: the probe is granted, enabled and run, then revoked; runs are asked
/// for right after the revoking write until the first is refused.
pub async fn revocations(
    c: &Client,
    controller: &Controller,
    sc: Scenario,
    m: &mut Measured,
) -> Res<()> {
    eprintln!("bench: revocations");
    let mut ends = Vec::new();
    for i in 0..REVOCATIONS {
        let target = workspace("bench", i % sc.workspaces.max(1));
        ends.push(revocation_to_refused_run(c, &target, i).await?);
    }
    ends.sort();
    m.revoke_p50 = p50(&ends);
    m.revoke_p99 = p99(&ends);
    controller.settle(Duration::from_secs(2)).await;
    Ok(())
}

/// Grants the probe to `target`, enables it and has a run accepted; then revokes, and
/// from the revoking write asks for a run every 20 ms until one is refused. Returns
/// the time from the write to the creation of the first run that was refused.
async fn revocation_to_refused_run(c: &Client, target: &str, round: usize) -> Res<Duration> {
    let shares: Api<WorkflowShare> = Api::namespaced(c.clone(), SRC);
    shares
        .patch(
            PROBE,
            &PatchParams::apply("bench"),
            &Patch::Apply(&probe_share(&[target])),
        )
        .await?;
    let entry = format!("{SRC}.{PROBE}");
    let entries: Api<DynamicObject> = Api::namespaced_with(
        c.clone(),
        target,
        &kube::api::ApiResource::erase::<SharedWorkflow>(&()),
    );
    let runs: Api<DynamicObject> = Api::namespaced_with(
        c.clone(),
        target,
        &kube::api::ApiResource::erase::<WorkflowRun>(&()),
    );
    enable(&entries, &entry).await?;
    let accepted = format!("revoke-{round}-before");
    runs.create(
        &Default::default(),
        &serde_json::from_value(run_of(target, &entry, &accepted))?,
    )
    .await?;
    if decided(&runs, &accepted).await? != "Accepted" {
        return Err("the run before the revocation was not accepted".into());
    }
    let revoked = probe_share(&[]);
    let sent = Instant::now();
    shares
        .patch(PROBE, &PatchParams::apply("bench"), &Patch::Apply(&revoked))
        .await?;
    let first_refused = first_refused_run(&runs, target, &entry, round, sent).await?;
    Ok(first_refused.duration_since(sent))
}

/// Enables the library entry, once it exists (for at most 60 s).
async fn enable(entries: &Api<DynamicObject>, entry: &str) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while entries
        .patch(
            entry,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"enabled": true}})),
        )
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            return Err("the probe's entry did not appear".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn run_of(target: &str, entry: &str, name: &str) -> Value {
    json!({"apiVersion": GROUP, "kind": "WorkflowRun",
        "metadata": {"name": name, "namespace": target},
        "spec": {"workflowRef": {"kind": "SharedWorkflow", "name": entry}}})
}

/// The phase of run `name` once it is no longer Pending (for at most 60 s).
async fn decided(runs: &Api<DynamicObject>, name: &str) -> Res<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = runs.get(name).await?;
        let phase = run.data["status"]["phase"]
            .as_str()
            .unwrap_or("Pending")
            .to_string();
        if phase != "Pending" {
            return Ok(phase);
        }
        if Instant::now() > deadline {
            return Err("a run was not decided in 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asks for runs after the revoking write (`sent`) until one is refused; returns when
/// that one was created.
async fn first_refused_run(
    runs: &Api<DynamicObject>,
    target: &str,
    entry: &str,
    round: usize,
    sent: Instant,
) -> Res<Instant> {
    // An accepted run is decided within milliseconds; a refused one is held Pending
    // for the controller's grace period, then Rejected. So a run not accepted within
    // 300 ms is the first refused one (confirmed by waiting for its rejection).
    let mut n = 0;
    loop {
        let name = format!("revoke-{round}-after-{n}");
        n += 1;
        let created = Instant::now();
        runs.create(
            &Default::default(),
            &serde_json::from_value(run_of(target, entry, &name))?,
        )
        .await?;
        let mut accepted = false;
        while created.elapsed() < Duration::from_millis(300) {
            if runs.get(&name).await?.data["status"]["phase"].as_str() == Some("Accepted") {
                accepted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !accepted {
            if decided(runs, &name).await? != "Rejected" {
                return Err("a run after the revocation was accepted late".into());
            }
            return Ok(created);
        }
        if sent.elapsed() > Duration::from_secs(60) {
            return Err("no run was refused within 60 s of the revocation".into());
        }
    }
}

/// The API server restarts under a converged controller: watches relist, and the
/// controller should sync nothing, nothing having changed.
pub async fn apiserver_restart(
    cluster: &Cluster,
    controller: &Controller,
    sc: Scenario,
    m: &mut Measured,
) -> Res<()> {
    eprintln!("bench: API server restart");
    let syncs = controller.counter("workflow_share_syncs_total");
    run(Command::new(repo().join("hack/controlplane/restart.sh"))
        .env("READY_SECONDS", sc.start_limit().as_secs().to_string())
        .arg(&cluster.dir)
        .arg("apiserver"))?;
    // The relists take longer as the organization grows; a sync they caused must not
    // come after the count is read.
    tokio::time::sleep(sc.relist_wait()).await;
    controller.settle(Duration::from_secs(3)).await;
    m.apiserver_restart_syncs = Some(controller.counter("workflow_share_syncs_total") - syncs);
    Ok(())
}

/// A restart over the converged state: caches refill, nothing is written.
pub async fn controller_restart(cluster: &Cluster, sc: Scenario, m: &mut Measured) -> Res<()> {
    eprintln!("bench: controller restart");
    let start = Instant::now();
    let again = Controller::start(cluster, sc.start_limit())?;
    m.restart_ready = Some(start.elapsed());
    tokio::time::sleep(Duration::from_secs(5)).await;
    again.settle(Duration::from_secs(2)).await;
    m.restart_writes = Some(again.writes());
    // The same state held by a process that never went through the burst: how
    // much of the memory at rest is the caches themselves.
    m.restart_rss_mb = Some(again.rss_mb().0);
    again.stop();
    Ok(())
}
