//! One point of the curve: the raw bound on a fresh control plane, then, on another
//! started alike, the controller through the scenario — the organization converged, then every
//! workflow shared with it at once — and, at the largest point, the measures over
//! the converged organization (converged.rs). At every point, once every share is
//! Ready: the memory at rest and the largest object written (objects.rs).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use workflow_share::resources::{Organization, Workflow, WorkflowShare};

use crate::cluster::{Cluster, Controller};
use crate::measures::{Measured, Requests, dump_metrics, profile};
use crate::raw_bound::{Identity, Raw, raw_bound};
use crate::scenario::{
    Scenario, create_all, join_only, manager, namespace, workflow_name, workspace,
};
use crate::watch::{Arrivals, ShareStates, Watching, seen, watch_entries, watch_shares};
use crate::{GROUP, Res, converged, objects};

/// The organization the controller serves.
pub const ORG: &str = "bench";
/// Its owner workspace, where the workflows and their shares are.
pub const SRC: &str = "bench-src";

/// Measures one scenario on a control plane of its own; `full` adds the measures
/// over the converged organization.
pub async fn measure(sc: Scenario, full: bool) -> Res<Measured> {
    // The raw bound on a control plane of its own, started alike, so that what the
    // raw bound leaves in the API server and etcd cannot count against the controller
    // (see docs/performance.md). BENCH_ONE_CONTROL_PLANE (an experiment) runs both on
    // one, the raw bound first, as the benchmark once did.
    let raws = match std::env::var_os("BENCH_ONE_CONTROL_PLANE") {
        Some(_) => None,
        None => {
            let raw_cluster = Cluster::up(&format!("{}-raw", sc.name())).await?;
            let raws = async {
                let watching = watch_entries(&raw_cluster.admin).await?;
                raw_phases(&raw_cluster, sc, full, &watching.seen).await
            }
            .await;
            raw_cluster.down();
            Some(raws?)
        }
    };
    let cluster = Cluster::up(&sc.name()).await?;
    let result = measure_on(&cluster, sc, full, raws).await;
    // BENCH_KEEP_LOG=/path keeps the controller's log (with BENCH_RUST_LOG, say).
    if let Some(to) = std::env::var_os("BENCH_KEEP_LOG") {
        let _ = std::fs::copy(cluster.dir.join("controller.log"), to);
    }
    cluster.down();
    result
}

/// The raw bound as the controller, and at the largest point as a cluster admin too.
async fn raw_phases(
    cluster: &Cluster,
    sc: Scenario,
    full: bool,
    arrivals: &Arc<Mutex<Arrivals>>,
) -> Res<(Raw, Option<Raw>)> {
    // The reference first, on the fresh control plane, as the controller's run is.
    eprintln!("bench: {} ({} grants): raw bound", sc.name(), sc.grants());
    let raw = raw_bound(cluster, sc, arrivals, Identity::Controller).await?;
    *seen(arrivals) = Arrivals::default();
    let raw_admin = if full {
        eprintln!(
            "bench: {} ({} grants): raw bound as cluster admin",
            sc.name(),
            sc.grants()
        );
        let raw = raw_bound(cluster, sc, arrivals, Identity::Admin).await?;
        *seen(arrivals) = Arrivals::default();
        Some(raw)
    } else {
        None
    };
    Ok((raw, raw_admin))
}

async fn measure_on(
    cluster: &Cluster,
    sc: Scenario,
    full: bool,
    raws: Option<(Raw, Option<Raw>)>,
) -> Res<Measured> {
    let c = &cluster.admin;
    // The entry watch is an instrument: it runs through both phases so that both
    // pay for it alike.
    let watching = watch_entries(c).await?;
    let arrivals = watching.seen.clone();
    // Before anything is written (a compaction now, not amid a measured phase): the
    // organization's own objects, a few hundred, count in the grants' bytes below.
    let etcd_before = crate::etcd::bytes_in_use(&cluster.dir).await;
    let (raw, raw_admin) = match raws {
        Some(raws) => raws,
        None => raw_phases(cluster, sc, full, &arrivals).await?,
    };

    organization(c, sc).await?;
    let controller = Controller::start(cluster, sc.start_limit())?;
    controller.settle(Duration::from_secs(3)).await;
    // Like the entry watch, it runs to the end of the measures, as the controller's
    // shares change.
    let shares_watch = watch_shares(c, SRC);
    let mut m = share_all(cluster, &controller, &arrivals, &shares_watch, sc, raw).await?;
    m.raw_admin = raw_admin;
    if full {
        m.fidelity = crate::fidelity::compare(c, crate::raw_bound::samples(sc)).await?;
        for compared in &m.fidelity {
            eprintln!("bench: raw bound / controller: {}", compared.describe());
        }
    }
    // After the memory at rest was read: the lists load the API server, not the
    // controller. A pause after them lets its garbage collector clear what they
    // allocated before the joins are timed.
    m.largest = objects::largest(c).await?;
    let etcd_after = crate::etcd::bytes_in_use(&cluster.dir).await;
    if let (Ok(before), Ok(after)) = (etcd_before, etcd_after) {
        let per_grant = after.saturating_sub(before) as f64 / sc.grants().max(1) as f64;
        eprintln!(
            "bench: {}: etcd holds {per_grant:.0} bytes per grant",
            sc.name()
        );
        m.etcd_bytes_per_grant = Some(per_grant);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (without, with) = (
        &m.largest.without_managed_fields,
        &m.largest.with_managed_fields,
    );
    eprintln!(
        "bench: {}: largest object written: {} bytes without managedFields ({}), {} with ({})",
        sc.name(),
        without.bytes,
        without.what,
        with.bytes,
        with.what
    );

    // Which step raised the peak: the high-water mark after each.
    let peak_after = |step: &str| {
        let (now, peak) = controller.rss_mb();
        eprintln!("bench: controller memory after {step}: {now:.0} MB, peak so far {peak:.0} MB");
    };
    peak_after("the sharing burst");
    if full {
        converged::joins(cluster, &controller, &arrivals, sc, &mut m).await?;
        peak_after("the joins");
        if join_only() {
            return Ok(m);
        }
        converged::share_changes(c, &controller, &arrivals, sc, &mut m).await?;
        peak_after("the share changes");
        converged::revocations(c, &controller, sc, &mut m).await?;
        peak_after("the revocations");
        converged::apiserver_restart(cluster, &controller, sc, &mut m).await?;
        peak_after("the API server restart");
    }
    m.peak_rss_mb = controller.rss_mb().1;
    controller.stop();

    if full {
        converged::controller_restart(cluster, sc, &mut m).await?;
    }
    Ok(m)
}

/// The organization, one manager per workspace, the workflows: what the controller
/// starts on.
async fn organization(c: &Client, sc: Scenario) -> Res<()> {
    let orgs: Api<DynamicObject> = Api::all_with(
        c.clone(),
        &kube::api::ApiResource::erase::<Organization>(&()),
    );
    orgs.patch(
        ORG,
        &PatchParams::apply("bench"),
        &Patch::Apply(json!({"apiVersion": GROUP, "kind": "Organization", "metadata": {"name": ORG}, "spec": {"deidentificationDefault": true}})),
    )
    .await?;
    let mut namespaces = vec![namespace(SRC, Some(ORG))];
    namespaces.extend((0..sc.workspaces).map(|i| namespace(&workspace("bench", i), Some(ORG))));
    create_all::<Namespace>(c, namespaces).await?;
    let mut managers = vec![manager(SRC, "owner")];
    managers.extend(
        (0..sc.workspaces).map(|i| manager(&workspace("bench", i), &format!("manager-{i}"))),
    );
    create_all::<RoleBinding>(c, managers).await?;
    let workflows: Vec<Value> = (0..sc.workflows)
        .map(|i| {
            json!({"apiVersion": GROUP, "kind": "Workflow",
                "metadata": {"name": workflow_name(i), "namespace": SRC},
                "spec": {"displayName": workflow_name(i), "type": "Agent"}})
        })
        .collect();
    create_all::<Workflow>(c, workflows).await?;
    Ok(())
}

/// Every workflow shared with the entire organization at once: until every
/// SharedWorkflow exists, until every share is Ready, and what that cost.
async fn share_all(
    cluster: &Cluster,
    controller: &Controller,
    arrivals: &Arc<Mutex<Arrivals>>,
    shares_watch: &Watching<ShareStates>,
    sc: Scenario,
    raw: Raw,
) -> Res<Measured> {
    let c = &cluster.admin;
    let before = Requests::now(c).await?;
    let writes_before = controller.writes();
    let cpu_before = controller.cpu_seconds();
    dump_metrics(c, "phase-controller", "before").await;
    let server_cpu_before = cluster.server_cpu_seconds();

    eprintln!(
        "bench: {} ({} grants): the controller",
        sc.name(),
        sc.grants()
    );
    let shares: Vec<Value> = (0..sc.workflows)
        .map(|i| {
            json!({"apiVersion": GROUP, "kind": "WorkflowShare",
                "metadata": {"name": workflow_name(i), "namespace": SRC},
                "spec": {"workflowRef": {"name": workflow_name(i)}, "entireOrganization": true}})
        })
        .collect();
    let start = Instant::now();
    let _profile = profile(cluster, "controller");
    create_all::<WorkflowShare>(c, shares).await?;
    let grants = sc.grants();
    while seen(arrivals).seen.len() < grants {
        // Fails early when the shares cannot be granted.
        shares_watch.ready()?;
        if start.elapsed() > sc.limit() {
            return Err("SharedWorkflows not all created in time".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shared_workflows = start.elapsed();
    while shares_watch.ready()? < sc.workflows {
        if start.elapsed() > sc.limit() {
            return Err("shares not Ready in time".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = start.elapsed();
    let server_cpu = cluster.server_cpu_seconds() - server_cpu_before;
    dump_metrics(c, "phase-controller", "after").await;
    controller.settle(Duration::from_secs(3)).await;
    // Less the benchmark's own: the share creates.
    let own = [("POST", "workflowshares", sc.workflows as u64)];
    let requests = Requests::now(c).await?.since(&before, &own);
    let (rest, ready_peak) = controller.rss_mb();
    Ok(Measured {
        scenario: Some(sc),
        raw,
        shared_workflows,
        ready,
        requests,
        controller_writes: controller.writes() - writes_before,
        cpu_seconds: controller.cpu_seconds() - cpu_before,
        server_cpu,
        rest_rss_mb: rest,
        ready_peak_rss_mb: ready_peak,
        ..Measured::default()
    })
}
