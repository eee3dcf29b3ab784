//! The scenarios of the curve, the objects they are made of, and the bulk client
//! that writes them (for the raw bound and for setting up the controller's run).

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{Api, DynamicObject, PostParams};
use kube::{Client, Resource};
use serde_json::{Value, json};

use crate::Res;

/// Requests the bulk client keeps in flight.
const CONCURRENCY: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Recipient workspaces (the owner workspace is one more).
    pub workspaces: usize,
    /// Workflows in the owner workspace, each shared with the entire organization.
    pub workflows: usize,
}

impl Scenario {
    pub fn grants(&self) -> usize {
        self.workspaces * self.workflows
    }

    /// "org-<workflows>x<workspaces>", as the report names it (org-500x50: 500
    /// workflows shared with 50 workspaces).
    pub fn name(&self) -> String {
        format!("org-{}x{}", self.workflows, self.workspaces)
    }

    /// How long the controller may take to converge, a library to appear, or the
    /// entry watch to see the raw bound's entries: 30 min, or 40 ms a grant past
    /// 45,000 (ten times the pace to Ready measured at 25,000 grants).
    pub fn limit(&self) -> Duration {
        Duration::from_secs(1800).max(Duration::from_millis(40 * self.grants() as u64))
    }

    /// How long a controller may take to lead with full caches: 2 min, or 2 ms a
    /// grant past 60,000 (3.6 s were measured at 25,000).
    pub fn start_limit(&self) -> Duration {
        Duration::from_secs(120).max(Duration::from_millis(2 * self.grants() as u64))
    }

    /// How long watches may take to relist after an API server restart: 10 s, or
    /// 0.4 ms a grant past 25,000 (the relist grows with the objects held).
    pub fn relist_wait(&self) -> Duration {
        Duration::from_secs(10).max(Duration::from_micros(400 * self.grants() as u64))
    }
}

/// The default curve, deep organizations: (workspaces, workflows).
const DEFAULT: [(usize, usize); 4] = [(5, 10), (10, 50), (25, 200), (50, 500)];
/// "wide": 1,000 workspaces with 50 workflows each shared org-wide (org-50x1000,
/// 50,000 grants): an organization as broad as a large company's.
const WIDE: (usize, usize) = (1000, 50);
/// "100k": the largest point's library of 500 workflows over 4 times its workspaces
/// (org-500x200, 100,000 grants), so that it differs from org-500x50 in the
/// organization's breadth alone (a join still brings 500 entries).
const HUNDRED_K: (usize, usize) = (200, 500);

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The points of the run, fewest grants first (the last one gets the full measures).
/// BENCH_SCENARIOS lists them (see `parse`); without it, the default curve.
pub fn scenarios() -> Res<Vec<Scenario>> {
    let list = match std::env::var("BENCH_SCENARIOS") {
        Ok(spec) => parse(&spec)?,
        Err(_) => default_curve(),
    };
    if list.is_empty() {
        return Err(
            "no scenario to run (BENCH_SCENARIOS, BENCH_MIN_GRANTS, BENCH_MAX_GRANTS)".into(),
        );
    }
    Ok(list)
}

/// The default curve within BENCH_MIN_GRANTS..=BENCH_MAX_GRANTS (default: up to the
/// full 25,000; a lower cap makes a quick run).
fn default_curve() -> Vec<Scenario> {
    let max = env_usize("BENCH_MAX_GRANTS").unwrap_or(25_000);
    let min = env_usize("BENCH_MIN_GRANTS").unwrap_or(0);
    DEFAULT
        .into_iter()
        .map(shape)
        .filter(|s| s.grants() <= max && s.grants() >= min)
        .collect()
}

fn shape((workspaces, workflows): (usize, usize)) -> Scenario {
    Scenario {
        workspaces,
        workflows,
    }
}

/// BENCH_SCENARIOS: a comma-separated list of `default` (the default curve, within
/// BENCH_MIN_GRANTS and BENCH_MAX_GRANTS, which filter nothing else), `wide`, `100k`,
/// or any `<workflows>x<workspaces>` (`org-` in front allowed: `50x1000`,
/// `org-500x200`). Sorted by grants, duplicates dropped.
fn parse(spec: &str) -> Res<Vec<Scenario>> {
    let mut list = Vec::new();
    for token in spec.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match token {
            "default" => list.extend(default_curve()),
            "wide" => list.push(shape(WIDE)),
            "100k" => list.push(shape(HUNDRED_K)),
            _ => list.push(parse_shape(token)?),
        }
    }
    let mut unique: Vec<Scenario> = Vec::new();
    for sc in list {
        if !unique.contains(&sc) {
            unique.push(sc);
        }
    }
    // Stable: points of equal grants keep their order.
    unique.sort_by_key(Scenario::grants);
    Ok(unique)
}

/// `<workflows>x<workspaces>`, optionally `org-` first.
fn parse_shape(token: &str) -> Res<Scenario> {
    let bad = || {
        format!("BENCH_SCENARIOS: {token:?} is not default, wide, 100k or <workflows>x<workspaces>")
    };
    let (workflows, workspaces) = token
        .strip_prefix("org-")
        .unwrap_or(token)
        .split_once('x')
        .ok_or_else(bad)?;
    let number = |n: &str| n.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(bad);
    Ok(Scenario {
        workspaces: number(workspaces)?,
        workflows: number(workflows)?,
    })
}

/// Workspaces that join, one after the other (BENCH_JOINS, default 5): the median is reported.
pub fn join_count() -> usize {
    std::env::var("BENCH_JOINS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5)
}

/// BENCH_JOIN_ONLY (an experiment): the joins over the converged organization, and
/// nothing else after them. The raw bound still writes the whole organization first,
/// so that its joins meet an API server as loaded as the controller's do.
pub fn join_only() -> bool {
    std::env::var_os("BENCH_JOIN_ONLY").is_some()
}

pub fn namespace(name: &str, org: Option<&str>) -> Value {
    let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    if let Some(org) = org {
        ns["metadata"]["labels"] = json!({"sharing.workflows.dev/organization": org});
    }
    ns
}

pub fn manager(ns: &str, user: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": format!("manager-{user}"), "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "workflow-share-manager"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    })
}

/// Workspace `i` of a scenario: at least three digits, more past 999 (`bench-1000`),
/// so names stay unique and valid DNS labels at any breadth.
pub fn workspace(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:03}")
}

pub fn workflow_name(i: usize) -> String {
    format!("wf-{i:05}")
}

/// Creates `objects` (of kind `K`), `CONCURRENCY` requests in flight.
pub async fn create_all<K>(client: &Client, objects: Vec<Value>) -> Res<Duration>
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
