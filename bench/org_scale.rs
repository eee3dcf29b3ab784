//! Organization-scale benchmark: the controller (release build) against the raw
//! write bound of the same local kube-apiserver + etcd, measured in the same run.
//! See bench/README.md; run with `cargo bench --bench org-scale`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, PartialObjectMeta, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config, Resource};
use serde_json::{Value, json};
use workflow_share::resources::{SharedWorkflow, Workflow, WorkflowShare};

/// Requests the bulk client keeps in flight.
const CONCURRENCY: usize = 64;
const GROUP: &str = "sharing.workflows.dev/v1alpha1";

// The integration tests' harness: metrics, health and free ports of a controller.
#[path = "../tests/support/mod.rs"]
mod support;
use support::{free_port, leads, metric_at};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Res<()> {
    let status = cmd.status()?;
    if !status.success() {
        return Err(format!("{cmd:?}: {status}").into());
    }
    Ok(())
}

// --- the local control plane ----------------------------------------------------

struct Cluster {
    dir: PathBuf,
    admin: Client,
}

impl Cluster {
    async fn up(name: &str) -> Res<Cluster> {
        let dir = std::env::temp_dir().join(format!(
            "workflow-share-bench-{}-{name}",
            std::process::id()
        ));
        run(Command::new(repo().join("hack/controlplane/up.sh"))
            .arg(&dir)
            .arg("--watch-pid")
            .arg(std::process::id().to_string())
            // No audit log: it would tax the controller's requests only.
            .env_remove("WORKFLOW_SHARE_AUDIT_DIR"))?;
        run(Command::new(repo().join("hack/install-local.sh")).arg(&dir))?;
        let kubeconfig = Kubeconfig::read_from(dir.join("kubeconfig"))?;
        let mut config = Config::from_custom_kubeconfig(
            kubeconfig,
            &KubeConfigOptions {
                context: Some("admin".into()),
                ..Default::default()
            },
        )
        .await?;
        // The bulk client must not be throttled by its own connection handling.
        config.read_timeout = Some(Duration::from_secs(120));
        let admin = Client::try_from(config)?;
        Ok(Cluster { dir, admin })
    }

    fn down(&self) {
        let _ = Command::new(repo().join("hack/controlplane/down.sh"))
            .arg(&self.dir)
            .status();
    }
}

/// Requests the API server served, by verb, from its own counters
/// (`apiserver_request_total`). The benchmark's own requests are left out by the
/// caller; watches are left out here (long-running, counted when they end).
#[derive(Default, Clone, Debug)]
struct Requests {
    by_verb: BTreeMap<String, u64>,
    event_creates: u64,
    event_conflicts: u64,
    /// (verb, resource) -> count, for subtracting the benchmark's own requests.
    by_resource: BTreeMap<(String, String), u64>,
}

impl Requests {
    async fn now(client: &Client) -> Res<Requests> {
        let text = client
            .request_text(http::Request::get("/metrics").body(Vec::new())?)
            .await?;
        let mut out = Requests::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.split_once("} ") else {
                continue;
            };
            let label = |key: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{key}=\"")))
                    .map(|v| v.trim_end_matches('"').to_string())
                    .unwrap_or_default()
            };
            let n = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
            let (verb, resource) = (label("verb"), label("resource"));
            if verb == "WATCH" || verb == "CONNECT" || resource.is_empty() {
                continue;
            }
            if verb == "POST" && resource == "events" {
                out.event_creates += n;
                if label("code") == "409" {
                    out.event_conflicts += n;
                }
            }
            *out.by_verb.entry(verb.to_lowercase()).or_default() += n;
            *out.by_resource.entry((verb, resource)).or_default() += n;
        }
        Ok(out)
    }

    /// What was served between `before` and `self`, less `own` requests of the
    /// benchmark ((verb, resource), count).
    fn since(&self, before: &Requests, own: &[(&str, &str, u64)]) -> Requests {
        let mut out = Requests {
            event_creates: self.event_creates - before.event_creates,
            event_conflicts: self.event_conflicts - before.event_conflicts,
            ..Requests::default()
        };
        for ((verb, resource), n) in &self.by_resource {
            let was = before
                .by_resource
                .get(&(verb.clone(), resource.clone()))
                .copied()
                .unwrap_or(0);
            let mine: u64 = own
                .iter()
                .filter(|(v, r, _)| v == verb && r == resource)
                .map(|o| o.2)
                .sum();
            let n = (n - was).saturating_sub(mine);
            if n > 0 {
                *out.by_verb.entry(verb.to_lowercase()).or_default() += n;
                out.by_resource.insert((verb.clone(), resource.clone()), n);
            }
        }
        out
    }
}

/// BENCH_JOIN_ONLY (an experiment): the joins over the converged organization, and
/// nothing else after them. The raw bound still writes the whole organization first,
/// so that its joins meet an API server as loaded as the controller's do.
/// BENCH_PPROF=/dir: a CPU profile of the API server over the first
/// BENCH_PPROF_SECONDS_<PHASE> or BENCH_PPROF_SECONDS (default 5) of each phase
/// (RAW, CONTROLLER), written as `<dir>/<phase>.pprof`.
fn profile(cluster: &Cluster, phase: &str) -> Option<tokio::task::JoinHandle<()>> {
    let dir = PathBuf::from(std::env::var_os("BENCH_PPROF")?);
    let seconds: u64 = std::env::var(format!("BENCH_PPROF_SECONDS_{}", phase.to_uppercase()))
        .or_else(|_| std::env::var("BENCH_PPROF_SECONDS"))
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let client = cluster.admin.clone();
    let to = dir.join(format!("{phase}.pprof"));
    let phase = phase.to_string();
    Some(tokio::spawn(async move {
        let path = format!("/debug/pprof/profile?seconds={seconds}");
        let Ok(request) = http::Request::get(path).body(Vec::new()) else {
            return;
        };
        match client.request_stream(request).await {
            Ok(body) => {
                use futures::AsyncReadExt;
                let mut bytes = Vec::new();
                let mut body = body;
                if body.read_to_end(&mut bytes).await.is_ok() {
                    let _ = std::fs::create_dir_all(&dir);
                    let _ = std::fs::write(&to, bytes);
                }
            }
            Err(e) => eprintln!("bench: profile {phase}: {e}"),
        }
    }))
}

/// BENCH_METRICS_DIR (an experiment): the API server's metrics and heap profile
/// before and after each sharing phase and each join, as `<dir>/<what>.<when>.txt`
/// and `.heap`, to compare what the raw bound and the controller cost it (counters
/// and allocations: `go tool pprof -sample_index=alloc_space -diff_base`).
async fn dump_metrics(client: &Client, join: &str, when: &str) {
    let Some(dir) = std::env::var_os("BENCH_METRICS_DIR").map(PathBuf::from) else {
        return;
    };
    let Ok(request) = http::Request::get("/metrics").body(Vec::new()) else {
        return;
    };
    if let Ok(text) = client.request_text(request).await {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("{join}.{when}.txt")), text);
    }
    let Ok(request) = http::Request::get("/debug/pprof/heap").body(Vec::new()) else {
        return;
    };
    if let Ok(body) = client.request_stream(request).await {
        use futures::AsyncReadExt;
        let mut bytes = Vec::new();
        let mut body = body;
        if body.read_to_end(&mut bytes).await.is_ok() {
            let _ = std::fs::write(dir.join(format!("{join}.{when}.heap")), bytes);
        }
    }
}

/// Workspaces that join, one after the other (BENCH_JOINS, default 5): the median is reported.
fn join_count() -> usize {
    std::env::var("BENCH_JOINS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5)
}

fn join_only() -> bool {
    std::env::var_os("BENCH_JOIN_ONLY").is_some()
}

/// Workspaces get their library, raw, one after the other (see `join_count`).
async fn raw_joins(
    cluster: &Cluster,
    sc: Scenario,
    entry: &impl Fn(&str, usize) -> Value,
    arrivals: &Arc<Mutex<Arrivals>>,
    raw: &mut Raw,
) -> Res<()> {
    let c = &cluster.admin;
    // BENCH_RAW_JOINS_AS_CONTROLLER (an experiment): the raw joins' entries are written
    // with the controller's credentials, to tell what its identity costs the API server.
    let as_controller = match std::env::var_os("BENCH_RAW_JOINS_AS_CONTROLLER") {
        Some(_) => {
            let kubeconfig = Kubeconfig::read_from(cluster.dir.join("controller.kubeconfig"))?;
            let config =
                Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
            Some(Client::try_from(config)?)
        }
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
        seen_by_watch(arrivals, Some(&ns), sc.workflows).await;
        joins.push(start.elapsed());
        eprintln!(
            "bench: raw {ns}: library complete after {:?} (CPU seconds meanwhile: API server and etcd {:.2})",
            start.elapsed(),
            cluster.server_cpu_seconds() - server_cpu,
        );
        dump_metrics(c, &ns, "after").await;
    }
    joins.sort();
    raw.join = joins.get(joins.len() / 2).copied().unwrap_or_default();
    Ok(())
}

// --- the controller process -------------------------------------------------------

struct Controller {
    child: Child,
    port: u16,
}

impl Controller {
    fn start(cluster: &Cluster) -> Res<Controller> {
        let port = free_port();
        let log = std::fs::File::create(cluster.dir.join("controller.log"))?;
        // BENCH_CONTROLLER runs another build (say, the previous commit's) for a
        // before/after comparison on the same machine.
        let binary = std::env::var("BENCH_CONTROLLER")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_workflow-share").to_string());
        let child = Command::new(binary)
            .arg("controller")
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{port}"))
            .env("KUBECONFIG", cluster.dir.join("controller.kubeconfig"))
            .env(
                "RUST_LOG",
                std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("LEASE_DURATION_SECONDS", "4")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        std::fs::write(cluster.dir.join("controller.pid"), child.id().to_string())?;
        let c = Controller { child, port };
        let start = Instant::now();
        while !leads(c.port) {
            if start.elapsed() > Duration::from_secs(120) {
                return Err("the controller did not lead within 120 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(c)
    }

    fn counter(&self, series: &str) -> f64 {
        metric_at(self.port, series)
    }

    fn writes(&self) -> f64 {
        self.counter("workflow_share_writes_total")
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }

    /// (resident now, peak resident) in MB, from /proc.
    fn rss_mb(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Waits until the controller has written nothing for `quiet`.
    /// Waits until the controller has run no sync and sent no write for `quiet`.
    /// (Writes are counted when sent, before they wait for a request slot: a
    /// backlog of queued writes shows as syncs in flight.)
    async fn settle(&self, quiet: Duration) {
        let mut last = self.writes();
        let mut since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = self.writes();
            if now != last || self.counter("workflow_share_syncs_in_flight") > 0.0 {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
        }
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// CPU time a process has used so far (user + system), from /proc (ticks of 10 ms).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

impl Cluster {
    /// CPU seconds used so far by the API server and etcd together: the side both
    /// the raw bound and the controller load.
    fn server_cpu_seconds(&self) -> f64 {
        ["apiserver", "etcd"]
            .iter()
            .filter_map(|c| std::fs::read_to_string(self.dir.join(format!("{c}.pid"))).ok())
            .filter_map(|pid| pid.trim().parse::<u32>().ok())
            .map(cpu_seconds)
            .sum()
    }
}

// --- bulk writes ----------------------------------------------------------------

async fn create_all<K>(client: &Client, objects: Vec<Value>) -> Res<Duration>
where
    K: Resource<DynamicType = ()>,
{
    let resource = kube::api::ApiResource::erase::<K>(&());
    let start = Instant::now();
    stream::iter(objects)
        .map(|obj| {
            let client = client.clone();
            let resource = resource.clone();
            async move {
                let api: Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
                    Some(ns) => Api::namespaced_with(client, ns, &resource),
                    None => Api::all_with(client, &resource),
                };
                let object: DynamicObject = serde_json::from_value(obj)?;
                api.create(&PostParams::default(), &object).await?;
                Res::Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(start.elapsed())
}

fn namespace(name: &str, org: Option<&str>) -> Value {
    let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    if let Some(org) = org {
        ns["metadata"]["labels"] = json!({"sharing.workflows.dev/organization": org});
    }
    ns
}

fn manager(ns: &str, user: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": format!("manager-{user}"), "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "workflow-share-manager"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    })
}

fn workspace(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:03}")
}

fn workflow_name(i: usize) -> String {
    format!("wf-{i:05}")
}

// --- the scenario -----------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Scenario {
    /// Recipient workspaces (the owner workspace is one more).
    workspaces: usize,
    /// Workflows in the owner workspace, each shared with the entire organization.
    workflows: usize,
}

impl Scenario {
    fn grants(&self) -> usize {
        self.workspaces * self.workflows
    }
}

#[derive(Default, Debug, Clone)]
struct Raw {
    shared_workflows: Duration,
    all: Duration,
    /// API server and etcd CPU seconds for `all`.
    server_cpu: f64,
    writes: usize,
    join: Duration,
}

/// The raw write bound: a bulk client creating what the controller creates for the
/// scenario (library entries, the owner workspace's organization readers Role and
/// RoleBinding, one notification Event per grant) as fast as the API server takes them.
/// Waits until the entry watch has seen `want` entries (in `namespace`, or in all).
async fn seen_by_watch(arrivals: &Arc<Mutex<Arrivals>>, namespace: Option<&str>, want: usize) {
    let seen = || {
        let a = arrivals.lock().unwrap_or_else(|p| p.into_inner());
        match namespace {
            Some(ns) => a.per_namespace.get(ns).copied().unwrap_or(0),
            None => a.seen.len(),
        }
    };
    let start = Instant::now();
    while seen() < want && start.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The raw bound. Its entries count as existing when the benchmark's watch has seen
/// them, as the controller's do.
async fn raw_bound(cluster: &Cluster, sc: Scenario, arrivals: &Arc<Mutex<Arrivals>>) -> Res<Raw> {
    let c = &cluster.admin;
    let src = "raw-src";
    let mut namespaces = vec![namespace(src, None)];
    namespaces.extend((0..sc.workspaces).map(|i| namespace(&workspace("raw", i), None)));
    create_all::<Namespace>(c, namespaces).await?;

    let entry = |ws: &str, wf: usize| {
        json!({
            "apiVersion": GROUP, "kind": "SharedWorkflow",
            "metadata": {"name": format!("{src}.{}", workflow_name(wf)), "namespace": ws,
                "labels": {"app.kubernetes.io/managed-by": "workflow-share-raw",
                    "sharing.workflows.dev/source-namespace": src,
                    "sharing.workflows.dev/source-workflow": workflow_name(wf)}},
            "spec": {"source": {"namespace": src, "name": workflow_name(wf)},
                "displayName": workflow_name(wf), "type": "Agent", "sharedBy": "admin", "access": "View"},
        })
    };
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
    seen_by_watch(arrivals, None, total).await;
    raw.shared_workflows = start.elapsed();

    // The organization readers grant of the owner workspace: one Role listing every
    // workflow, one RoleBinding of every workspace's members and service accounts.
    let name = "workflow-share-organization-readers";
    let rbac_roles = vec![json!({
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
                    "name": format!("system:serviceaccounts:{}", workspace("raw", ws))}),
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                    "name": format!("manager-{ws}")}),
            ]
        })
        .collect();
    let rbac_bindings = vec![json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": src},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": subjects,
    })];
    raw.writes += rbac_roles.len() + rbac_bindings.len();
    create_all::<Role>(c, rbac_roles).await?;
    create_all::<RoleBinding>(c, rbac_bindings).await?;

    // MicroTime: exactly six fractional digits.
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let events: Vec<Value> = (0..sc.workflows)
        .flat_map(|wf| (0..sc.workspaces).map(move |ws| (ws, wf)))
        .map(|(ws, wf)| {
            let ns = workspace("raw", ws);
            json!({
                "apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": format!("{src}.{}.shared", workflow_name(wf)), "namespace": ns},
                "eventTime": now, "reportingController": "sharing.workflows.dev/workflow-share",
                "reportingInstance": "bench", "action": "Share", "reason": "WorkflowShared", "type": "Normal",
                "regarding": {"apiVersion": GROUP, "kind": "SharedWorkflow", "namespace": ns,
                    "name": format!("{src}.{}", workflow_name(wf))},
                "note": format!("admin shared {} with this workspace (View).", workflow_name(wf)),
            })
        })
        .collect();
    raw.writes += events.len();
    create_all::<Event>(c, events).await?;
    raw.all = start.elapsed();
    raw.server_cpu = cluster.server_cpu_seconds() - server_cpu;
    dump_metrics(c, "phase-raw", "after").await;

    raw_joins(cluster, sc, &entry, arrivals, &mut raw).await?;

    // Leave etcd as the controller will find it, minus these objects.
    let mut all_ns: Vec<String> = (0..sc.workspaces).map(|i| workspace("raw", i)).collect();
    all_ns.extend((0..join_count()).map(|j| format!("raw-join-{j}")));
    all_ns.push(src.into());
    for ns in &all_ns {
        let dp = DeleteParams::default();
        let lp = ListParams::default();
        let _ = Api::<SharedWorkflow>::namespaced(c.clone(), ns)
            .delete_collection(&dp, &lp)
            .await?;
        let _ = Api::<Event>::namespaced(c.clone(), ns)
            .delete_collection(&dp, &lp)
            .await?;
        let _ = Api::<Role>::namespaced(c.clone(), ns)
            .delete_collection(&dp, &lp)
            .await?;
        let _ = Api::<RoleBinding>::namespaced(c.clone(), ns)
            .delete_collection(&dp, &lp)
            .await?;
    }
    Ok(raw)
}

/// Counts distinct library entries per workspace as the watch delivers them, and
/// the moment each (workspace, entry) first appeared.
#[derive(Default)]
struct Arrivals {
    seen: HashSet<(String, String)>,
    per_namespace: HashMap<String, usize>,
    last: HashMap<(String, String), Instant>,
}

/// What a watch task has seen so far; the task stops when this is dropped, so that a
/// torn-down control plane does not leave a watcher retrying in the background.
struct Watching<T> {
    seen: Arc<Mutex<T>>,
    task: tokio::task::JoinHandle<()>,
}

impl<T> Drop for Watching<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn watch_entries(client: &Client) -> Watching<Arrivals> {
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let sink = arrivals.clone();
    // Metadata only: the names are all the benchmark needs.
    let api: Api<PartialObjectMeta<SharedWorkflow>> = Api::all(client.clone());
    // The controller's entries and the raw bound's: both phases run under the same watch.
    let cfg = watcher::Config::default()
        .labels("app.kubernetes.io/managed-by in (workflow-share, workflow-share-raw)");
    let task = tokio::spawn(async move {
        let mut events = std::pin::pin!(watcher::watcher(api, cfg).default_backoff());
        while let Some(event) = events.next().await {
            let Ok(event) = event else { continue };
            let mut a = sink.lock().unwrap_or_else(|p| p.into_inner());
            match event {
                watcher::Event::Apply(m) | watcher::Event::InitApply(m) => {
                    let key = (
                        m.metadata.namespace.clone().unwrap_or_default(),
                        m.metadata.name.clone().unwrap_or_default(),
                    );
                    if a.seen.insert(key.clone()) {
                        *a.per_namespace.entry(key.0.clone()).or_default() += 1;
                        a.last.insert(key, Instant::now());
                    }
                }
                watcher::Event::Delete(m) => {
                    let key = (
                        m.metadata.namespace.clone().unwrap_or_default(),
                        m.metadata.name.clone().unwrap_or_default(),
                    );
                    if a.seen.remove(&key) {
                        if let Some(n) = a.per_namespace.get_mut(&key.0) {
                            *n -= 1;
                        }
                        a.last.remove(&key);
                    }
                }
                _ => {}
            }
        }
    });
    Watching {
        seen: arrivals,
        task,
    }
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Res<Duration> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > timeout {
            return Err(format!("timed out after {timeout:?} waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(start.elapsed())
}

/// Readiness of the shares of one namespace, as a watch delivers them (polling with
/// lists would load the API server while the controller works).
#[derive(Default)]
struct ShareStates {
    ready: HashSet<String>,
    stalled: Option<String>,
}

impl Watching<ShareStates> {
    fn ready(&self) -> Res<usize> {
        let s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match &s.stalled {
            Some(why) => Err(why.clone().into()),
            None => Ok(s.ready.len()),
        }
    }
}

fn watch_shares(client: &Client, ns: &str) -> Watching<ShareStates> {
    let states = Arc::new(Mutex::new(ShareStates::default()));
    let sink = states.clone();
    let api: Api<WorkflowShare> = Api::namespaced(client.clone(), ns);
    let task = tokio::spawn(async move {
        let mut events =
            std::pin::pin!(watcher::watcher(api, watcher::Config::default()).default_backoff());
        while let Some(event) = events.next().await {
            let Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) = event else {
                continue;
            };
            let mut st = sink.lock().unwrap_or_else(|p| p.into_inner());
            let name = s.metadata.name.clone().unwrap_or_default();
            let status = s.status.as_ref();
            let condition = |t: &str| {
                status.is_some_and(|st| {
                    st.conditions
                        .iter()
                        .any(|c| c.type_ == t && c.status == "True")
                })
            };
            if condition("Stalled") {
                st.stalled = Some(format!("share {name:?} is Stalled: {status:?}"));
            }
            let current = status.is_some_and(|x| x.observed_generation == s.metadata.generation);
            if current && condition("Ready") {
                st.ready.insert(name);
            } else {
                st.ready.remove(&name);
            }
        }
    });
    Watching { seen: states, task }
}

#[derive(Default, Debug, Clone)]
struct Measured {
    scenario: Option<Scenario>,
    raw: Raw,
    shared_workflows: Duration,
    ready: Duration,
    requests: Requests,
    controller_writes: f64,
    cpu_seconds: f64,
    /// API server and etcd CPU seconds until every share is Ready.
    server_cpu: f64,
    peak_rss_mb: f64,
    rest_rss_mb: f64,
    join: Option<Duration>,
    /// API requests of the five joins together, until the controller settled.
    join_requests: Option<Requests>,
    change_p50: Option<Duration>,
    change_p99: Option<Duration>,
    /// From a revoking write to the first run refused, over the converged organization.
    revoke_p50: Option<Duration>,
    revoke_p99: Option<Duration>,
    restart_writes: Option<f64>,
    restart_ready: Option<Duration>,
    restart_rss_mb: Option<f64>,
    apiserver_restart_syncs: Option<f64>,
}

async fn measure(sc: Scenario, full: bool) -> Res<Measured> {
    let cluster = Cluster::up(&format!("{}", sc.grants())).await?;
    let result = measure_on(&cluster, sc, full).await;
    // BENCH_KEEP_LOG=/path keeps the controller's log (with BENCH_RUST_LOG, say).
    if let Some(to) = std::env::var_os("BENCH_KEEP_LOG") {
        let _ = std::fs::copy(cluster.dir.join("controller.log"), to);
    }
    cluster.down();
    result
}

async fn measure_on(cluster: &Cluster, sc: Scenario, full: bool) -> Res<Measured> {
    let c = &cluster.admin;
    // The entry watch is an instrument: it runs through both phases so that both
    // pay for it alike.
    let watching = watch_entries(c);
    let arrivals = watching.seen.clone();
    eprintln!("bench: {} grants: raw bound", sc.grants());
    let raw = raw_bound(cluster, sc, &arrivals).await?;
    *arrivals.lock().unwrap_or_else(|p| p.into_inner()) = Arrivals::default();

    // The organization, one manager per workspace, the workflows; then the controller.
    let org = "bench";
    let src = "bench-src";
    let orgs: Api<DynamicObject> = Api::all_with(
        c.clone(),
        &kube::api::ApiResource::erase::<workflow_share::resources::Organization>(&()),
    );
    orgs.patch(
        org,
        &PatchParams::apply("bench"),
        &Patch::Apply(json!({"apiVersion": GROUP, "kind": "Organization", "metadata": {"name": org}, "spec": {"deidentificationDefault": true}})),
    )
    .await?;
    let mut namespaces = vec![namespace(src, Some(org))];
    namespaces.extend((0..sc.workspaces).map(|i| namespace(&workspace("bench", i), Some(org))));
    create_all::<Namespace>(c, namespaces).await?;
    let mut managers = vec![manager(src, "owner")];
    managers.extend(
        (0..sc.workspaces).map(|i| manager(&workspace("bench", i), &format!("manager-{i}"))),
    );
    create_all::<RoleBinding>(c, managers).await?;
    let workflows: Vec<Value> = (0..sc.workflows)
        .map(|i| {
            json!({"apiVersion": GROUP, "kind": "Workflow",
                "metadata": {"name": workflow_name(i), "namespace": src},
                "spec": {"displayName": workflow_name(i), "type": "Agent"}})
        })
        .collect();
    create_all::<Workflow>(c, workflows).await?;

    let controller = Controller::start(cluster)?;
    controller.settle(Duration::from_secs(3)).await;
    let shares_watch = watch_shares(c, src);
    let before = Requests::now(c).await?;
    let writes_before = controller.writes();
    let cpu_before = controller.cpu_seconds();
    dump_metrics(c, "phase-controller", "before").await;
    let server_cpu_before = cluster.server_cpu_seconds();

    eprintln!("bench: {} grants: the controller", sc.grants());
    let shares: Vec<Value> = (0..sc.workflows)
        .map(|i| {
            json!({"apiVersion": GROUP, "kind": "WorkflowShare",
                "metadata": {"name": workflow_name(i), "namespace": src},
                "spec": {"workflowRef": {"name": workflow_name(i)}, "entireOrganization": true}})
        })
        .collect();
    let start = Instant::now();
    let _profile = profile(cluster, "controller");
    create_all::<WorkflowShare>(c, shares).await?;
    let grants = sc.grants();
    let limit = Duration::from_secs(1800);
    while arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .seen
        .len()
        < grants
    {
        // Fails early when the shares cannot be granted.
        shares_watch.ready()?;
        if start.elapsed() > limit {
            return Err("SharedWorkflows not all created in time".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shared_workflows = start.elapsed();
    while shares_watch.ready()? < sc.workflows {
        if start.elapsed() > limit {
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
    let (rest, _) = controller.rss_mb();
    let mut m = Measured {
        scenario: Some(sc),
        raw,
        shared_workflows,
        ready,
        requests,
        controller_writes: controller.writes() - writes_before,
        cpu_seconds: controller.cpu_seconds() - cpu_before,
        server_cpu,
        rest_rss_mb: rest,
        ..Measured::default()
    };

    if full {
        // Workspaces join, one after the other: a manager, then the label. One join
        // takes about a second, so the median of several is reported.
        eprintln!("bench: workspaces join");
        let mut joins = Vec::new();
        let before_joins = Requests::now(c).await?;
        for j in 0..join_count() {
            let joining = format!("bench-join-{j}");
            create_all::<Namespace>(c, vec![namespace(&joining, None)]).await?;
            create_all::<RoleBinding>(c, vec![manager(&joining, &format!("manager-join-{j}"))])
                .await?;
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
                        json!({"metadata": {"labels": {"sharing.workflows.dev/organization": org}}}),
                    ),
                )
                .await?;
            let want = sc.workflows;
            wait_for("the joining workspace's library", limit, || {
                arrivals
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .per_namespace
                    .get(&joining)
                    .copied()
                    .unwrap_or(0)
                    >= want
            })
            .await?;
            joins.push(start.elapsed());
            let first = arrivals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
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
        }
        joins.sort();
        m.join = joins.get(joins.len() / 2).copied();
        controller.settle(Duration::from_secs(2)).await;
        // Less the benchmark's own: a namespace, a manager and a label per join.
        let own = [
            ("POST", "namespaces", join_count() as u64),
            ("POST", "rolebindings", join_count() as u64),
            ("PATCH", "namespaces", join_count() as u64),
        ];
        m.join_requests = Some(Requests::now(c).await?.since(&before_joins, &own));
        if join_only() {
            return Ok(m);
        }

        // One share change under the converged organization, 100 times.
        eprintln!("bench: single share changes");
        let probe = "probe";
        create_all::<Workflow>(
            c,
            vec![json!({"apiVersion": GROUP, "kind": "Workflow",
                "metadata": {"name": probe, "namespace": src},
                "spec": {"displayName": probe, "type": "Agent"}})],
        )
        .await?;
        controller.settle(Duration::from_secs(2)).await;
        let shares: Api<WorkflowShare> = Api::namespaced(c.clone(), src);
        let mut latencies = Vec::new();
        for i in 0..100 {
            let target = workspace("bench", i % sc.workspaces.max(1));
            let key = (target.clone(), format!("{src}.{probe}"));
            let body = json!({"apiVersion": GROUP, "kind": "WorkflowShare",
                "metadata": {"name": probe, "namespace": src},
                "spec": {"workflowRef": {"name": probe}, "workspaces": [target]}});
            let sent = Instant::now();
            shares
                .patch(probe, &PatchParams::apply("bench"), &Patch::Apply(&body))
                .await?;
            wait_for("the changed grant", Duration::from_secs(60), || {
                arrivals
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .last
                    .get(&key)
                    .is_some_and(|t| *t >= sent)
            })
            .await?;
            let at = arrivals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .last
                .get(&key)
                .copied()
                .unwrap_or(sent);
            latencies.push(at.duration_since(sent));
        }
        latencies.sort();
        m.change_p50 = latencies.get(latencies.len() / 2).copied();
        m.change_p99 = latencies.get(latencies.len() * 99 / 100).copied();
        controller.settle(Duration::from_secs(2)).await;

        // Revocation: the probe is granted, enabled and run, then revoked; runs are
        // asked for right after the revoking write until the first is refused.
        eprintln!("bench: revocations");
        let mut ends = Vec::new();
        for i in 0..REVOCATIONS {
            let target = workspace("bench", i % sc.workspaces.max(1));
            ends.push(revocation_to_refused_run(c, src, probe, &target, i).await?);
        }
        ends.sort();
        m.revoke_p50 = ends.get(ends.len() / 2).copied();
        m.revoke_p99 = ends.get(ends.len() * 99 / 100).copied();
        controller.settle(Duration::from_secs(2)).await;

        // The API server restarts under a converged controller: watches relist.
        eprintln!("bench: API server restart");
        let syncs = controller.counter("workflow_share_syncs_total");
        run(Command::new(repo().join("hack/controlplane/restart.sh"))
            .arg(&cluster.dir)
            .arg("apiserver"))?;
        tokio::time::sleep(Duration::from_secs(10)).await;
        controller.settle(Duration::from_secs(3)).await;
        m.apiserver_restart_syncs = Some(controller.counter("workflow_share_syncs_total") - syncs);
    }
    m.peak_rss_mb = controller.rss_mb().1;
    controller.stop();

    if full {
        // A restart over the converged state: caches refill, nothing is written.
        eprintln!("bench: controller restart");
        let start = Instant::now();
        let again = Controller::start(cluster)?;
        m.restart_ready = Some(start.elapsed());
        tokio::time::sleep(Duration::from_secs(5)).await;
        again.settle(Duration::from_secs(2)).await;
        m.restart_writes = Some(again.writes());
        // The same state held by a process that never went through the burst: how
        // much of the memory at rest is the caches themselves.
        m.restart_rss_mb = Some(again.rss_mb().0);
        again.stop();
    }
    Ok(m)
}

/// Revocations timed per run (each takes a few seconds: a refused run is decided
/// after the controller's grace period for caches behind the API server).
const REVOCATIONS: usize = 20;

/// Grants `probe` to `target`, enables it and has a run accepted; then revokes, and
/// from the revoking write asks for a run every 20 ms until one is refused. Returns
/// the time from the write to the creation of the first run that was refused.
async fn revocation_to_refused_run(
    c: &Client,
    src: &str,
    probe: &str,
    target: &str,
    round: usize,
) -> Res<Duration> {
    let shares: Api<WorkflowShare> = Api::namespaced(c.clone(), src);
    let body = json!({"apiVersion": GROUP, "kind": "WorkflowShare",
        "metadata": {"name": probe, "namespace": src},
        "spec": {"workflowRef": {"name": probe}, "workspaces": [target]}});
    shares
        .patch(probe, &PatchParams::apply("bench"), &Patch::Apply(&body))
        .await?;
    let entry = format!("{src}.{probe}");
    let entries: Api<DynamicObject> = Api::namespaced_with(
        c.clone(),
        target,
        &kube::api::ApiResource::erase::<workflow_share::resources::SharedWorkflow>(&()),
    );
    let runs: Api<DynamicObject> = Api::namespaced_with(
        c.clone(),
        target,
        &kube::api::ApiResource::erase::<workflow_share::resources::WorkflowRun>(&()),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while entries
        .patch(
            &entry,
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
    let run_of = |name: String| {
        json!({"apiVersion": GROUP, "kind": "WorkflowRun",
            "metadata": {"name": name, "namespace": target},
            "spec": {"workflowRef": {"kind": "SharedWorkflow", "name": entry}}})
    };
    let phase = |name: String| {
        let runs = runs.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let run = runs.get(&name).await?;
                let phase = run.data["status"]["phase"]
                    .as_str()
                    .unwrap_or("Pending")
                    .to_string();
                if phase != "Pending" {
                    return Ok::<String, Box<dyn std::error::Error + Send + Sync>>(phase);
                }
                if Instant::now() > deadline {
                    return Err("a run was not decided in 60 s".into());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let accepted = format!("revoke-{round}-before");
    runs.create(
        &Default::default(),
        &serde_json::from_value(run_of(accepted.clone()))?,
    )
    .await?;
    if phase(accepted).await? != "Accepted" {
        return Err("the run before the revocation was not accepted".into());
    }
    let revoked = json!({"apiVersion": GROUP, "kind": "WorkflowShare",
        "metadata": {"name": probe, "namespace": src},
        "spec": {"workflowRef": {"name": probe}, "workspaces": []}});
    let sent = Instant::now();
    shares
        .patch(probe, &PatchParams::apply("bench"), &Patch::Apply(&revoked))
        .await?;
    // An accepted run is decided within milliseconds; a refused one is held Pending
    // for the controller's grace period, then Rejected. So a run not accepted within
    // 300 ms is the first refused one (confirmed by waiting for its rejection).
    let mut n = 0;
    let first_refused = loop {
        let name = format!("revoke-{round}-after-{n}");
        n += 1;
        let created = Instant::now();
        runs.create(
            &Default::default(),
            &serde_json::from_value(run_of(name.clone()))?,
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
            if phase(name).await? != "Rejected" {
                return Err("a run after the revocation was accepted late".into());
            }
            break created;
        }
        if sent.elapsed() > Duration::from_secs(60) {
            return Err("no run was refused within 60 s of the revocation".into());
        }
    };
    Ok(first_refused.duration_since(sent))
}

// --- report -----------------------------------------------------------------------

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64().max(1e-9))
}

fn report(curve: &[Measured]) -> String {
    let mut out = String::new();
    let Some(big) = curve.last() else {
        return out;
    };
    let sc = big.scenario.unwrap_or(Scenario {
        workspaces: 0,
        workflows: 0,
    });
    let _ = writeln!(
        out,
        "### {} workflows shared with the entire organization of {} workspaces ({} grants)\n",
        sc.workflows,
        sc.workspaces,
        sc.grants()
    );
    let _ = writeln!(out, "| measure | raw bound | workflow-share | ratio |");
    let _ = writeln!(out, "|---|---|---|---|");
    let _ = writeln!(
        out,
        "| every SharedWorkflow exists | {} | {} | {} |",
        secs(big.raw.shared_workflows),
        secs(big.shared_workflows),
        ratio(big.shared_workflows, big.raw.shared_workflows)
    );
    let _ = writeln!(
        out,
        "| every share Ready | {} | {} | {} |",
        secs(big.raw.all),
        secs(big.ready),
        ratio(big.ready, big.raw.all)
    );
    if let Some(join) = big.join {
        let _ = writeln!(
            out,
            "| a workspace joins ({} grants; median of {}) | {} | {} | {} |",
            sc.workflows,
            join_count(),
            secs(big.raw.join),
            secs(join),
            ratio(join, big.raw.join)
        );
    }
    let _ = writeln!(
        out,
        "| writes | {} | {} | |",
        big.raw.writes, big.controller_writes
    );
    let _ = writeln!(
        out,
        "| Event create requests (a notification per grant, a report per share) | {} | {} ({} conflicts) | |",
        sc.grants() + sc.workflows,
        big.requests.event_creates,
        big.requests.event_conflicts
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| measure | workflow-share |");
    let _ = writeln!(out, "|---|---|");
    if let (Some(p50), Some(p99)) = (big.change_p50, big.change_p99) {
        let _ = writeln!(
            out,
            "| one share change to the grant visible (100 samples) | p50 {:.0} ms, p99 {:.0} ms |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    if let (Some(p50), Some(p99)) = (big.revoke_p50, big.revoke_p99) {
        let _ = writeln!(
            out,
            "| a revoking write to the first run refused ({REVOCATIONS} samples) | p50 {:.0} ms, p99 {:.0} ms |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    let verbs: Vec<String> = big
        .requests
        .by_verb
        .iter()
        .map(|(v, n)| format!("{v} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "| API requests while sharing, by verb | {} |",
        verbs.join(", ")
    );
    let mut by_resource: Vec<(&(String, String), &u64)> = big.requests.by_resource.iter().collect();
    by_resource.sort_by(|a, b| b.1.cmp(a.1));
    let resources: Vec<String> = by_resource
        .iter()
        .map(|((v, r), n)| format!("{} {r} {n}", v.to_lowercase()))
        .collect();
    let _ = writeln!(out, "| … by verb and resource | {} |", resources.join(", "));
    if let Some(joins) = &big.join_requests {
        let mut by_resource: Vec<(&(String, String), &u64)> = joins.by_resource.iter().collect();
        by_resource.sort_by(|a, b| b.1.cmp(a.1));
        let resources: Vec<String> = by_resource
            .iter()
            .map(|((v, r), n)| {
                format!(
                    "{} {r} {}",
                    v.to_lowercase(),
                    **n as f64 / join_count() as f64
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "| API requests per workspace joining, by verb and resource | {} |",
            resources.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "| controller CPU while sharing | {:.1} s |",
        big.cpu_seconds
    );
    let _ = writeln!(
        out,
        "| API server and etcd CPU until Ready | {:.1} s (raw bound {:.1} s, {:.2}×) |",
        big.server_cpu,
        big.raw.server_cpu,
        big.server_cpu / big.raw.server_cpu.max(0.01)
    );
    let after_restart = big
        .restart_rss_mb
        .map(|mb| format!("; {mb:.0} MB after a restart over the same state"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "| controller memory | peak {:.0} MB, {:.0} MB at rest{after_restart} |",
        big.peak_rss_mb, big.rest_rss_mb
    );
    if let Some(s) = big.apiserver_restart_syncs {
        let _ = writeln!(
            out,
            "| syncs after an API server restart (nothing changed) | {s:.0} |"
        );
    }
    if let (Some(w), Some(r)) = (big.restart_writes, big.restart_ready) {
        let _ = writeln!(
            out,
            "| controller restart over converged state | {:.0} writes, leading with full caches after {} |",
            w.abs(),
            secs(r)
        );
    }
    let _ = writeln!(out, "\n### Scaling\n");
    let _ = writeln!(
        out,
        "| grants | raw bound (all writes) | every share Ready | ratio | per 1,000 grants | peak memory |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for m in curve {
        let g = m.scenario.map(|s| s.grants()).unwrap_or(0);
        let _ = writeln!(
            out,
            "| {g} | {} | {} | {} | {:.2} s | {:.0} MB |",
            secs(m.raw.all),
            secs(m.ready),
            ratio(m.ready, m.raw.all),
            m.ready.as_secs_f64() * 1000.0 / g.max(1) as f64,
            m.peak_rss_mb
        );
    }
    out
}

fn plot(curve: &[Measured], path: &Path) -> Res<()> {
    use plotters::prelude::*;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        epaint_default_fonts::UBUNTU_LIGHT,
    )
    .map_err(|_| "font")?;
    let points: Vec<(f64, f64, f64, f64)> = curve
        .iter()
        .map(|m| {
            (
                m.scenario.map(|s| s.grants()).unwrap_or(0) as f64,
                m.raw.all.as_secs_f64(),
                m.ready.as_secs_f64(),
                m.peak_rss_mb,
            )
        })
        .collect();
    let max_x = points.iter().map(|p| p.0).fold(1.0, f64::max);
    let max_t = points.iter().map(|p| p.1.max(p.2)).fold(1.0, f64::max);
    let max_m = points.iter().map(|p| p.3).fold(1.0, f64::max);
    let root = BitMapBackend::new(path, (1000, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(500);
    let mut time = ChartBuilder::on(&left)
        .caption("time until every share is Ready", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_x * 1.05, 0.0..max_t * 1.1)?;
    time.configure_mesh()
        .x_desc("grants")
        .y_desc("seconds")
        .draw()?;
    time.draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), &BLUE))?
        .label("raw write bound")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    time.draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.2)), &RED))?
        .label("workflow-share")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    time.draw_series(
        points
            .iter()
            .map(|p| Circle::new((p.0, p.2), 3, RED.filled())),
    )?;
    time.configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    let mut mem = ChartBuilder::on(&right)
        .caption("controller peak memory", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_x * 1.05, 0.0..max_m.max(150.0) * 1.1)?;
    mem.configure_mesh().x_desc("grants").y_desc("MB").draw()?;
    mem.draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.3)), &RED))?;
    mem.draw_series(
        points
            .iter()
            .map(|p| Circle::new((p.0, p.3), 3, RED.filled())),
    )?;
    mem.draw_series(LineSeries::new(
        [(0.0, 150.0), (max_x * 1.05, 150.0)],
        BLACK.mix(0.4),
    ))?;
    root.present()?;
    Ok(())
}

fn scenarios() -> Vec<Scenario> {
    // BENCH_MAX_GRANTS caps the curve for a quick run (default: the full 25,000).
    let max: usize = std::env::var("BENCH_MAX_GRANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25_000);
    let min: usize = std::env::var("BENCH_MIN_GRANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    [(5, 10), (10, 50), (25, 200), (50, 500)]
        .into_iter()
        .map(|(workspaces, workflows)| Scenario {
            workspaces,
            workflows,
        })
        .filter(|s| s.grants() <= max && s.grants() >= min)
        .collect()
}

#[tokio::main]
async fn main() -> Res<()> {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary
    // without it, and then there is nothing to do.
    if !std::env::args().any(|a| a == "--bench") {
        println!("org-scale: a benchmark; run it with `cargo bench --bench org-scale`");
        return Ok(());
    }
    let list = scenarios();
    let mut curve = Vec::new();
    for (i, sc) in list.iter().enumerate() {
        let full = i + 1 == list.len();
        curve.push(measure(*sc, full).await?);
        eprintln!("bench: {:?}", curve.last());
    }
    let text = report(&curve);
    println!("{text}");
    // BENCH_RESULTS writes elsewhere (an experiment that should not replace the results).
    let out = std::env::var_os("BENCH_RESULTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("bench/results"));
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("latest.md"), &text)?;
    let mut csv = String::from(
        "grants,raw_all_s,ready_s,raw_shared_workflows_s,shared_workflows_s,peak_rss_mb\n",
    );
    for m in &curve {
        let _ = writeln!(
            csv,
            "{},{:.3},{:.3},{:.3},{:.3},{:.1}",
            m.scenario.map(|s| s.grants()).unwrap_or(0),
            m.raw.all.as_secs_f64(),
            m.ready.as_secs_f64(),
            m.raw.shared_workflows.as_secs_f64(),
            m.shared_workflows.as_secs_f64(),
            m.peak_rss_mb
        );
    }
    std::fs::write(out.join("curve.csv"), csv)?;
    plot(&curve, &out.join("curve.png"))?;
    eprintln!(
        "bench: wrote {}/latest.md, curve.csv, curve.png",
        out.display()
    );
    Ok(())
}
