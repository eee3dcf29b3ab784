//! What is measured: CPU and memory of processes (/proc), the API server's request
//! counters, its profiles and metrics (experiments), and what one point of the
//! curve measured.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::AsyncReadExt;
use kube::Client;

use crate::Res;
use crate::cluster::Cluster;
use crate::objects::Largest;
use crate::raw_bound::Raw;
use crate::scenario::Scenario;

/// Everything measured at one point of the curve; the `Option`s only at the largest.
#[derive(Default, Debug, Clone)]
pub struct Measured {
    pub scenario: Option<Scenario>,
    /// The raw bound, written with the controller's credentials: the reference.
    pub raw: Raw,
    /// The raw bound written as a cluster admin (at the largest point only).
    pub raw_admin: Option<Raw>,
    pub shared_workflows: Duration,
    pub ready: Duration,
    pub requests: Requests,
    pub controller_writes: f64,
    pub cpu_seconds: f64,
    /// API server and etcd CPU seconds until every share is Ready.
    pub server_cpu: f64,
    /// Peak resident memory over the whole point (at the largest, its measures too).
    pub peak_rss_mb: f64,
    /// Peak resident memory until every share is Ready: what memory per grant is of.
    pub ready_peak_rss_mb: f64,
    /// Resident memory once every share is Ready and the controller idle.
    pub rest_rss_mb: f64,
    /// The largest object the controller wrote, once every share is Ready.
    pub largest: Largest,
    /// etcd's database in use per grant, compacted, once every share is Ready
    /// (entries, RBAC, statuses, and the notification Events, kept for an hour).
    pub etcd_bytes_per_grant: Option<f64>,
    pub join: Option<Duration>,
    /// API requests of the five joins together, until the controller settled.
    pub join_requests: Option<Requests>,
    pub change_p50: Option<Duration>,
    pub change_p99: Option<Duration>,
    /// From a revoking write to the first run refused, over the converged organization.
    pub revoke_p50: Option<Duration>,
    pub revoke_p99: Option<Duration>,
    pub restart_writes: Option<f64>,
    pub restart_ready: Option<Duration>,
    pub restart_rss_mb: Option<f64>,
    pub apiserver_restart_syncs: Option<f64>,
    /// The raw bound's objects against the controller's (at the largest point only).
    pub fidelity: Vec<crate::fidelity::Comparison>,
}

impl Measured {
    /// Peak resident memory until Ready per grant, in KB.
    pub fn kb_per_grant(&self) -> f64 {
        let grants = self.scenario.map(|s| s.grants()).unwrap_or(0);
        self.ready_peak_rss_mb * 1024.0 / grants.max(1) as f64
    }
}

/// The median of sorted `samples`.
pub fn p50(samples: &[Duration]) -> Option<Duration> {
    samples.get(samples.len() / 2).copied()
}

/// The 99th percentile of sorted `samples`.
pub fn p99(samples: &[Duration]) -> Option<Duration> {
    samples.get(samples.len() * 99 / 100).copied()
}

/// CPU time a process has used so far (user + system), from /proc (ticks of 10 ms).
pub fn cpu_seconds(pid: u32) -> f64 {
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

/// (resident now, peak resident) of a process in MB, from /proc.
pub fn rss_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
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

/// Requests the API server served, by verb, from its own counters
/// (`apiserver_request_total`). The benchmark's own requests are left out by the
/// caller; watches are left out here (long-running, counted when they end).
#[derive(Default, Clone, Debug)]
pub struct Requests {
    pub by_verb: BTreeMap<String, u64>,
    pub event_creates: u64,
    pub event_conflicts: u64,
    /// (verb, resource) -> count, for subtracting the benchmark's own requests.
    pub by_resource: BTreeMap<(String, String), u64>,
}

impl Requests {
    pub async fn now(client: &Client) -> Res<Requests> {
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
    pub fn since(&self, before: &Requests, own: &[(&str, &str, u64)]) -> Requests {
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

/// BENCH_PPROF=/dir: a CPU profile of the API server over the first
/// BENCH_PPROF_SECONDS_<PHASE> or BENCH_PPROF_SECONDS (default 5) of each phase
/// (RAW, CONTROLLER), written as `<dir>/<phase>.pprof`.
pub fn profile(cluster: &Cluster, phase: &str) -> Option<tokio::task::JoinHandle<()>> {
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
pub async fn dump_metrics(client: &Client, join: &str, when: &str) {
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
        let mut bytes = Vec::new();
        let mut body = body;
        if body.read_to_end(&mut bytes).await.is_ok() {
            let _ = std::fs::write(dir.join(format!("{join}.{when}.heap")), bytes);
        }
    }
}
