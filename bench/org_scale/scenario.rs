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

#[derive(Clone, Copy, Debug)]
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
}

pub fn scenarios() -> Vec<Scenario> {
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
