//! The raw write bound: a bulk client creating what the controller creates for the
//! scenario — library entries, the owner workspace's organization readers Role and
//! RoleBinding, one notification Event per grant, one report Event per share — as
//! fast as the API server takes them. Its objects have the controller's fields
//! (`fidelity` checks them against the controller's after its run): an object with
//! fewer fields costs the API server less to create. Its entries count as existing
//! when the benchmark's watch has seen them, as the controller's do.
//!
//! The bound writes with the controller's own credentials (its ServiceAccount, its
//! RBAC, its priority-and-fairness flow): what the API server spends on who asks is
//! the same for any client with those rights, and no deployment would run the
//! controller as a cluster admin, whom the API server neither authorizes nor queues.
//! At the largest point the bound is also measured as a cluster admin, and reported
//! beside it, so that the cost of the identity stays visible.

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
use workflow_share::runtime::events;
use workflow_share::{labels, naming, text};

/// Who writes the raw bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// The controller's ServiceAccount: the reference.
    Controller,
    /// The cluster admin (system:masters).
    Admin,
}

impl Identity {
    /// The prefix of its namespaces: each run writes its own, so that both can run
    /// against one control plane.
    fn prefix(self) -> &'static str {
        match self {
            Identity::Controller => "raw",
            Identity::Admin => "adm",
        }
    }

    /// Its phase, as the profiles and metrics saved of it are named.
    fn phase(self) -> &'static str {
        match self {
            Identity::Controller => "raw",
            Identity::Admin => "raw_admin",
        }
    }

    /// The owner workspace of its workflows.
    fn src(self) -> String {
        format!("{}-src", self.prefix())
    }
}

#[derive(Default, Debug, Clone)]
pub struct Raw {
    pub shared_workflows: Duration,
    pub all: Duration,
    /// API server and etcd CPU seconds for `all`.
    pub server_cpu: f64,
    pub writes: usize,
    pub join: Duration,
}

/// The raw bound written as `who`, then its joins; then deletes what it wrote, for
/// the run that follows on the same control plane. The namespaces are the admin's
/// to make (set-up, not measured).
pub async fn raw_bound(
    cluster: &Cluster,
    sc: Scenario,
    arrivals: &Arc<Mutex<Arrivals>>,
    who: Identity,
) -> Res<Raw> {
    let c = &cluster.admin;
    let controller;
    let writer = match who {
        Identity::Controller => {
            controller = cluster.controller_client().await?;
            &controller
        }
        Identity::Admin => c,
    };
    let (prefix, src) = (who.prefix(), who.src());
    let mut namespaces = vec![namespace(&src, None)];
    namespaces.extend((0..sc.workspaces).map(|i| namespace(&workspace(prefix, i), None)));
    create_all::<Namespace>(c, namespaces).await?;

    let entries: Vec<Value> = (0..sc.workflows)
        .flat_map(|wf| (0..sc.workspaces).map(move |ws| (ws, wf)))
        .map(|(ws, wf)| entry(&src, &workspace(prefix, ws), wf))
        .collect();
    let mut raw = Raw {
        writes: entries.len(),
        ..Raw::default()
    };
    dump_metrics(c, &format!("phase-{}", who.phase()), "before").await;
    let start = Instant::now();
    let server_cpu = cluster.server_cpu_seconds();
    let _profile = profile(cluster, who.phase());
    let total = entries.len();
    create_all::<SharedWorkflow>(writer, entries).await?;
    let sent = start.elapsed();
    seen_by_watch(arrivals, None, total, sc.limit()).await?;
    raw.shared_workflows = start.elapsed();

    let (rbac_roles, rbac_bindings) = organization_readers(sc, who);
    raw.writes += rbac_roles.len() + rbac_bindings.len();
    create_all::<Role>(writer, rbac_roles).await?;
    create_all::<RoleBinding>(writer, rbac_bindings).await?;

    let mut events = notifications(sc, who);
    events.extend(reports(sc, who));
    raw.writes += events.len();
    let rbac = start.elapsed();
    create_all::<Event>(writer, events).await?;
    raw.all = start.elapsed();
    eprintln!(
        "bench: raw bound as {who:?}: entries sent after {sent:?}, seen after {:?}, RBAC after {rbac:?}, Events after {:?}",
        raw.shared_workflows, raw.all
    );
    raw.server_cpu = cluster.server_cpu_seconds() - server_cpu;
    dump_metrics(c, &format!("phase-{}", who.phase()), "after").await;

    raw.join = raw_joins(cluster, sc, arrivals, who, writer).await?;
    clean_up(c, sc, who).await?;
    Ok(raw)
}

/// A UID of the same shape as the API server's, for what the raw bound references
/// but never created (its workflows, shares and entries).
fn uid(kind: u8, i: usize) -> String {
    format!("00000000-0000-4000-80{kind:02x}-{i:012}")
}

/// The value of the controller's managed-by label on what the raw bound creates: its
/// own, so that nothing mistakes its objects for the controller's.
const MANAGED_BY_RAW: &str = "workflow-share-raw";

/// The labels of a raw Event, as the controller labels its own.
fn managed_by() -> Value {
    json!({ labels::MANAGED_BY_KEY: MANAGED_BY_RAW })
}

/// The library entry of workflow `wf` of `src` in workspace `ws`, as the controller
/// writes it.
fn entry(src: &str, ws: &str, wf: usize) -> Value {
    let name = workflow_name(wf);
    json!({
        "apiVersion": GROUP, "kind": "SharedWorkflow",
        "metadata": {"name": naming::shared_workflow_name(src, &name), "namespace": ws,
            "labels": {labels::MANAGED_BY_KEY: MANAGED_BY_RAW,
                "sharing.workflows.dev/source-namespace": src,
                "sharing.workflows.dev/source-workflow": name,
                "sharing.workflows.dev/state": "Active"},
            "annotations": {"sharing.workflows.dev/granted-at": "2026-12-05T10:00:00.000000Z"}},
        "spec": {"source": {"namespace": src, "name": name, "uid": uid(1, wf), "generation": 1},
            "displayName": name, "type": "Agent", "sharedBy": "admin", "access": "View"},
    })
}

/// The organization readers grant of the owner workspace: one Role listing every
/// workflow, one RoleBinding of every workspace's members and service accounts.
fn organization_readers(sc: Scenario, who: Identity) -> (Vec<Value>, Vec<Value>) {
    let name = "workflow-share-organization-readers";
    let src = who.src();
    let roles = vec![json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": name, "namespace": src},
        "rules": [{"apiGroups": ["sharing.workflows.dev"], "resources": ["workflows"],
            "resourceNames": (0..sc.workflows).map(workflow_name).collect::<Vec<_>>(),
            "verbs": ["get", "watch"]}],
    })];
    let subjects: Vec<Value> = (0..sc.workspaces)
        .flat_map(|ws| {
            [
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                    "name": format!("system:serviceaccounts:{}", workspace(who.prefix(), ws))}),
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                    "name": format!("manager-{ws}")}),
            ]
        })
        .collect();
    let bindings = vec![json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": src},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": subjects,
    })];
    (roles, bindings)
}

/// An Event as the controller records it (see `runtime::events`).
fn event(ns: &str, name: String, reason: &str, note: String, regarding: Value) -> Value {
    // MicroTime: exactly six fractional digits.
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns, "labels": managed_by()},
        "eventTime": now, "reportingController": "sharing.workflows.dev/workflow-share",
        "reportingInstance": "bench", "action": "Share", "reason": reason, "type": "Normal",
        "regarding": regarding, "note": note,
    })
}

/// The notification of workflow `wf`'s grant to workspace `ws`.
fn notification(src: &str, ws: &str, wf: usize, i: usize) -> Value {
    let name = workflow_name(wf);
    let entry = naming::shared_workflow_name(src, &name);
    let entry_uid = uid(2, i);
    let mut notice = event(
        ws,
        naming::notification_event_name(&entry, &entry_uid),
        "WorkflowShared",
        format!(
            "Workflow {name} from workspace {src} was shared with workspace {ws} by admin; for its owners and managers: User manager-{i:03}."
        ),
        json!({"apiVersion": GROUP, "kind": "SharedWorkflow", "namespace": ws, "name": entry,
            "uid": entry_uid}),
    );
    notice["related"] = json!({"apiVersion": GROUP, "kind": "Workflow", "namespace": src,
        "name": name});
    notice
}

/// One notification Event per grant.
fn notifications(sc: Scenario, who: Identity) -> Vec<Value> {
    let src = who.src();
    (0..sc.workflows)
        .flat_map(|wf| (0..sc.workspaces).map(move |ws| (ws, wf)))
        .map(|(ws, wf)| notification(&src, &workspace(who.prefix(), ws), wf, ws))
        .collect()
}

/// The report on share `wf` of the workspaces it was granted to.
fn report(sc: Scenario, who: Identity, wf: usize) -> Value {
    let (src, name) = (who.src(), workflow_name(wf));
    let version = (1000 + wf).to_string();
    let workspaces: Vec<String> = (0..sc.workspaces)
        .map(|ws| workspace(who.prefix(), ws))
        .collect();
    let list = text::join_within(&workspaces, events::NOTE_MAX_BYTES - 100);
    event(
        &src,
        naming::change_event_name(&name, "Granted", &version),
        "Granted",
        format!(
            "Workflow {name} granted to {} workspace(s): {list}",
            workspaces.len()
        ),
        json!({"apiVersion": GROUP, "kind": "WorkflowShare", "namespace": src, "name": name,
            "uid": uid(3, wf)}),
    )
}

/// One report Event per share.
fn reports(sc: Scenario, who: Identity) -> Vec<Value> {
    (0..sc.workflows).map(|wf| report(sc, who, wf)).collect()
}

/// The first entry, notification and report the raw bound writes as the controller,
/// to compare with the controller's own (see `fidelity`).
pub fn samples(sc: Scenario) -> [Value; 3] {
    let who = Identity::Controller;
    let (src, ws) = (who.src(), workspace(who.prefix(), 0));
    [
        entry(&src, &ws, 0),
        notification(&src, &ws, 0, 0),
        report(sc, who, 0),
    ]
}

/// Workspaces get their library, raw, one after the other (see `join_count`);
/// returns the median time until the watch has seen a whole library.
async fn raw_joins(
    cluster: &Cluster,
    sc: Scenario,
    arrivals: &Arc<Mutex<Arrivals>>,
    who: Identity,
    writer: &Client,
) -> Res<Duration> {
    let c = &cluster.admin;
    let src = who.src();
    let mut joins = Vec::new();
    for j in 0..join_count() {
        let ns = format!("{}-join-{j}", who.prefix());
        create_all::<Namespace>(c, vec![namespace(&ns, None)]).await?;
        let join: Vec<Value> = (0..sc.workflows).map(|wf| entry(&src, &ns, wf)).collect();
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
async fn clean_up(c: &Client, sc: Scenario, who: Identity) -> Res<()> {
    let prefix = who.prefix();
    let mut all_ns: Vec<String> = (0..sc.workspaces).map(|i| workspace(prefix, i)).collect();
    all_ns.extend((0..join_count()).map(|j| format!("{prefix}-join-{j}")));
    all_ns.push(who.src());
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
