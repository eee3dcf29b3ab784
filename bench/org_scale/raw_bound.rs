//! The raw write bound: a bulk client (admin) creating what the controller creates
//! for the scenario — library entries, the owner workspace's organization readers
//! Role and RoleBinding, one notification Event per grant — as fast as the API
//! server takes them. Its entries count as existing when the benchmark's watch has
//! seen them, as the controller's do.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};
use workflow_share::resources::SharedWorkflow;

use crate::cluster::Cluster;
use crate::measures::{dump_metrics, p50, profile};
use crate::scenario::{Scenario, create_all, join_count, namespace, workflow_name, workspace};
use crate::watch::{Arrivals, seen_by_watch};
use crate::{GROUP, Res};

/// The owner workspace of the raw bound's workflows.
const SRC: &str = "raw-src";

#[derive(Default, Debug, Clone)]
pub struct Raw {
    pub shared_workflows: Duration,
    pub all: Duration,
    /// API server and etcd CPU seconds for `all`.
    pub server_cpu: f64,
    pub writes: usize,
    pub join: Duration,
}

/// The raw bound, then its joins; then deletes what it wrote, so that the controller
/// starts from the same etcd.
pub async fn raw_bound(
    cluster: &Cluster,
    sc: Scenario,
    arrivals: &Arc<Mutex<Arrivals>>,
) -> Res<Raw> {
    let c = &cluster.admin;
    let mut namespaces = vec![namespace(SRC, None)];
    namespaces.extend((0..sc.workspaces).map(|i| namespace(&workspace("raw", i), None)));
    create_all::<Namespace>(c, namespaces).await?;

    let entries: Vec<Value> = (0..sc.workflows)
        .flat_map(|wf| (0..sc.workspaces).map(move |ws| (ws, wf)))
        .map(|(ws, wf)| entry(&workspace("raw", ws), wf))
        .collect();
    let mut raw = Raw {
        writes: entries.len(),
        ..Raw::default()
    };
    dump_metrics(c, "phase-raw", "before").await;
    let start = Instant::now();
    let server_cpu = cluster.server_cpu_seconds();
    let _profile = profile(cluster, "raw");
    let total = entries.len();
    create_all::<SharedWorkflow>(c, entries).await?;
    seen_by_watch(arrivals, None, total, sc.limit()).await?;
    raw.shared_workflows = start.elapsed();

    let (rbac_roles, rbac_bindings) = organization_readers(sc);
    raw.writes += rbac_roles.len() + rbac_bindings.len();
    create_all::<Role>(c, rbac_roles).await?;
    create_all::<RoleBinding>(c, rbac_bindings).await?;

    let events = notifications(sc);
    raw.writes += events.len();
    create_all::<Event>(c, events).await?;
    raw.all = start.elapsed();
    raw.server_cpu = cluster.server_cpu_seconds() - server_cpu;
    dump_metrics(c, "phase-raw", "after").await;

    raw.join = raw_joins(cluster, sc, arrivals).await?;
    clean_up(c, sc).await?;
    Ok(raw)
}

/// The library entry of workflow `wf` in workspace `ws`, as the controller writes it.
fn entry(ws: &str, wf: usize) -> Value {
    json!({
        "apiVersion": GROUP, "kind": "SharedWorkflow",
        "metadata": {"name": format!("{SRC}.{}", workflow_name(wf)), "namespace": ws,
            "labels": {"app.kubernetes.io/managed-by": "workflow-share-raw",
                "sharing.workflows.dev/source-namespace": SRC,
                "sharing.workflows.dev/source-workflow": workflow_name(wf),
                "sharing.workflows.dev/state": "Active"},
            "annotations": {"sharing.workflows.dev/granted-at": "2026-12-05T10:00:00.000000Z"}},
        "spec": {"source": {"namespace": SRC, "name": workflow_name(wf)},
            "displayName": workflow_name(wf), "type": "Agent", "sharedBy": "admin", "access": "View"},
    })
}

/// The organization readers grant of the owner workspace: one Role listing every
/// workflow, one RoleBinding of every workspace's members and service accounts.
fn organization_readers(sc: Scenario) -> (Vec<Value>, Vec<Value>) {
    let name = "workflow-share-organization-readers";
    let roles = vec![json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": name, "namespace": SRC},
        "rules": [{"apiGroups": ["sharing.workflows.dev"], "resources": ["workflows"],
            "resourceNames": (0..sc.workflows).map(workflow_name).collect::<Vec<_>>(),
            "verbs": ["get", "watch"]}],
    })];
    let subjects: Vec<Value> = (0..sc.workspaces)
        .flat_map(|ws| {
            [
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                    "name": format!("system:serviceaccounts:{}", workspace("raw", ws))}),
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                    "name": format!("manager-{ws}")}),
            ]
        })
        .collect();
    let bindings = vec![json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": SRC},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": subjects,
    })];
    (roles, bindings)
}

/// One notification Event per grant, as the controller records them.
fn notifications(sc: Scenario) -> Vec<Value> {
    // MicroTime: exactly six fractional digits.
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    (0..sc.workflows)
        .flat_map(|wf| (0..sc.workspaces).map(move |ws| (ws, wf)))
        .map(|(ws, wf)| {
            let ns = workspace("raw", ws);
            json!({
                "apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": format!("{SRC}.{}.shared", workflow_name(wf)), "namespace": ns},
                "eventTime": now, "reportingController": "sharing.workflows.dev/workflow-share",
                "reportingInstance": "bench", "action": "Share", "reason": "WorkflowShared", "type": "Normal",
                "regarding": {"apiVersion": GROUP, "kind": "SharedWorkflow", "namespace": ns,
                    "name": format!("{SRC}.{}", workflow_name(wf))},
                "note": format!("admin shared {} with this workspace (View).", workflow_name(wf)),
            })
        })
        .collect()
}

/// Workspaces get their library, raw, one after the other (see `join_count`);
/// returns the median time until the watch has seen a whole library.
async fn raw_joins(
    cluster: &Cluster,
    sc: Scenario,
    arrivals: &Arc<Mutex<Arrivals>>,
) -> Res<Duration> {
    let c = &cluster.admin;
    // BENCH_RAW_JOINS_AS_CONTROLLER (an experiment): the raw joins' entries are written
    // with the controller's credentials, to tell what its identity costs the API server.
    let as_controller = match std::env::var_os("BENCH_RAW_JOINS_AS_CONTROLLER") {
        Some(_) => Some(cluster.controller_client().await?),
        None => None,
    };
    let writer = as_controller.as_ref().unwrap_or(c);
    let mut joins = Vec::new();
    for j in 0..join_count() {
        let ns = format!("raw-join-{j}");
        create_all::<Namespace>(c, vec![namespace(&ns, None)]).await?;
        let join: Vec<Value> = (0..sc.workflows).map(|wf| entry(&ns, wf)).collect();
        dump_metrics(c, &ns, "before").await;
        // As before the controller's joins: a moment after the last request.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let server_cpu = cluster.server_cpu_seconds();
        eprintln!("bench: raw {ns} joins at {}", jiff::Timestamp::now());
        let start = Instant::now();
        create_all::<SharedWorkflow>(writer, join).await?;
        seen_by_watch(arrivals, Some(&ns), sc.workflows, sc.limit()).await?;
        joins.push(start.elapsed());
        eprintln!(
            "bench: raw {ns}: library complete after {:?} (CPU seconds meanwhile: API server and etcd {:.2})",
            start.elapsed(),
            cluster.server_cpu_seconds() - server_cpu,
        );
        dump_metrics(c, &ns, "after").await;
    }
    joins.sort();
    Ok(p50(&joins).unwrap_or_default())
}

/// Leaves etcd as the controller will find it, minus the raw bound's objects. A few
/// namespaces at a time: the wide organization has a thousand.
async fn clean_up(c: &Client, sc: Scenario) -> Res<()> {
    let mut all_ns: Vec<String> = (0..sc.workspaces).map(|i| workspace("raw", i)).collect();
    all_ns.extend((0..join_count()).map(|j| format!("raw-join-{j}")));
    all_ns.push(SRC.into());
    stream::iter(all_ns)
        .map(|ns| clean_up_namespace(c, ns))
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn clean_up_namespace(c: &Client, ns: String) -> Res<()> {
    let dp = DeleteParams::default();
    let lp = ListParams::default();
    let _ = Api::<SharedWorkflow>::namespaced(c.clone(), &ns)
        .delete_collection(&dp, &lp)
        .await?;
    let _ = Api::<Event>::namespaced(c.clone(), &ns)
        .delete_collection(&dp, &lp)
        .await?;
    let _ = Api::<Role>::namespaced(c.clone(), &ns)
        .delete_collection(&dp, &lp)
        .await?;
    let _ = Api::<RoleBinding>::namespaced(c.clone(), &ns)
        .delete_collection(&dp, &lp)
        .await?;
    Ok(())
}
