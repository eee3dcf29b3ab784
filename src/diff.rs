//! `workflow-share diff -f FILE|DIR`: what applying share manifests would change in
//! the live cluster — which workspaces and people would be granted, which keep their
//! access, and which **lose** it (and which SharedWorkflows would be deleted) —
//! like `kubectl diff`. Both sides come from the same planner the controller runs:
//! once on the live objects, once on them with the files' objects applied over.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde::Serialize;

use crate::labels;
use crate::planner::{Snapshot, WorkflowPlan};
use crate::resources::{GrantState, Organization, Workflow, WorkflowShare};

/// What happens to one recipient of one share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Change {
    /// Gains access.
    Grant,
    /// Keeps access.
    Keep,
    /// Loses access.
    Remove,
}

/// One line of the diff.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    /// `namespace/name` of the share.
    pub share: String,
    pub workflow: String,
    pub change: Change,
    /// A workspace, or `User:name` / `Group:name`.
    pub recipient: String,
    /// For a workspace that loses access: the SharedWorkflow that will be deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletes: Option<String>,
}

/// Recipients with access, per share (`namespace/name`), from a set of plans.
fn access(plans: &[WorkflowPlan]) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut out = BTreeMap::new();
    for plan in plans {
        for share in &plan.shares {
            let recipients: BTreeSet<String> = share
                .status
                .grants
                .iter()
                .filter(|g| g.state == GrantState::Active)
                .map(|g| g.workspace.clone())
                .chain(
                    share
                        .status
                        .people
                        .iter()
                        .filter(|p| p.state == GrantState::Active)
                        .map(|p| format!("{}:{}", p.kind, p.name)),
                )
                .collect();
            out.insert(
                format!("{}/{}", plan.namespace, share.name),
                (format!("{}/{}", plan.namespace, plan.workflow), recipients),
            );
        }
    }
    out
}

/// Library entries per workflow (`namespace/name`): workspace -> entry name.
fn entries(plans: &[WorkflowPlan]) -> BTreeMap<String, BTreeMap<String, String>> {
    plans
        .iter()
        .map(|p| {
            (
                format!("{}/{}", p.namespace, p.workflow),
                p.shared_workflows
                    .iter()
                    .map(|s| (s.workspace.clone(), s.name.clone()))
                    .collect(),
            )
        })
        .collect()
}

/// The changes between two snapshots, for the shares `files` names.
pub fn compare(
    live: &Snapshot,
    desired: &Snapshot,
    shares_in_files: &BTreeSet<String>,
) -> Vec<Line> {
    const NOW: &str = "1970-01-01T00:00:00Z";
    let (before_plans, after_plans) = (live.plan_all(NOW), desired.plan_all(NOW));
    let (before, after) = (access(&before_plans), access(&after_plans));
    let (entries_before, entries_after) = (entries(&before_plans), entries(&after_plans));
    let mut lines = Vec::new();
    for share in shares_in_files {
        let empty = (String::new(), BTreeSet::new());
        let (workflow_before, was) = before.get(share).unwrap_or(&empty);
        let (workflow_after, will) = after.get(share).unwrap_or(&empty);
        let workflow = if workflow_after.is_empty() {
            workflow_before.clone()
        } else {
            workflow_after.clone()
        };
        for recipient in was.union(will) {
            let change = match (was.contains(recipient), will.contains(recipient)) {
                (false, true) => Change::Grant,
                (true, true) => Change::Keep,
                _ => Change::Remove,
            };
            // The entry goes only if no other share keeps the workspace.
            let deletes = (change == Change::Remove)
                .then(|| {
                    let before = entries_before.get(&workflow)?.get(recipient)?;
                    let kept = entries_after
                        .get(&workflow)
                        .is_some_and(|e| e.contains_key(recipient));
                    (!kept).then(|| format!("{recipient}/{before}"))
                })
                .flatten();
            lines.push(Line {
                share: share.clone(),
                workflow: workflow.clone(),
                change,
                recipient: recipient.clone(),
                deletes,
            });
        }
    }
    lines
}

/// Lists one kind as the caller, with errors that say what to do.
async fn listing<K>(api: Api<K>, params: &ListParams) -> anyhow::Result<Vec<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.list(params).await {
        Ok(list) => Ok(list.items),
        Err(kube::Error::Api(s)) if s.code == 404 => anyhow::bail!(
            "{} are not served by this cluster: install the workflow-share CRDs first (kubectl apply --server-side -f crds/)",
            K::plural(&())
        ),
        Err(kube::Error::Api(s)) if s.code == 403 => anyhow::bail!(
            "forbidden to list {} ({}): diff reads organizations, namespaces, workspace roles and bindings, workflows and shares cluster-wide; run it with a context that may read them (a cluster administrator or a CI identity)",
            K::plural(&()),
            s.message
        ),
        Err(e) => Err(anyhow::Error::new(e).context(format!("listing {}", K::plural(&())))),
    }
}

/// Reads what the planner needs from the live cluster, as the caller.
pub async fn live_snapshot(client: &Client) -> anyhow::Result<Snapshot> {
    let all = ListParams::default();
    Ok(Snapshot {
        organizations: listing(Api::<Organization>::all(client.clone()), &all).await?,
        namespaces: listing(Api::<Namespace>::all(client.clone()), &all).await?,
        cluster_roles: listing(
            Api::<ClusterRole>::all(client.clone()),
            &ListParams::default().labels(labels::WORKSPACE_ROLE),
        )
        .await?,
        role_bindings: listing(Api::<RoleBinding>::all(client.clone()), &all).await?,
        workflows: listing(Api::<Workflow>::all(client.clone()), &all).await?,
        shares: listing(Api::<WorkflowShare>::all(client.clone()), &all).await?,
    })
}

/// The live snapshot with the files' objects applied over it (same kind, namespace
/// and name replaced; new ones added). Returns it and the shares the files name.
pub fn overlay(live: &Snapshot, files: &Snapshot) -> (Snapshot, BTreeSet<String>) {
    fn key<K: kube::Resource>(o: &K) -> (Option<String>, String) {
        (
            o.meta().namespace.clone(),
            o.meta().name.clone().unwrap_or_default(),
        )
    }
    fn merge<K: kube::Resource + Clone>(live: &[K], files: &[K]) -> Vec<K> {
        let replaced: BTreeSet<_> = files.iter().map(key).collect();
        live.iter()
            .filter(|o| !replaced.contains(&key(*o)))
            .chain(files.iter())
            .cloned()
            .collect()
    }
    // A share in a file is judged as it would be after `kubectl apply`: its status
    // (and so what was notified) stays the live one.
    let shares: Vec<WorkflowShare> = files
        .shares
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if let Some(current) = live.shares.iter().find(|l| key(*l) == key(&s)) {
                s.status = current.status.clone();
                s.metadata.annotations = current.metadata.annotations.clone();
            }
            s
        })
        .collect();
    let names = shares
        .iter()
        .map(|s| format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any()))
        .collect();
    let desired = Snapshot {
        organizations: merge(&live.organizations, &files.organizations),
        namespaces: merge(&live.namespaces, &files.namespaces),
        cluster_roles: merge(&live.cluster_roles, &files.cluster_roles),
        role_bindings: merge(&live.role_bindings, &files.role_bindings),
        workflows: merge(&live.workflows, &files.workflows),
        shares: merge(&live.shares, &shares),
    };
    (desired, names)
}

/// Human-readable diff: per share, `+` granted, `=` kept, `-` removed.
pub fn render(lines: &[Line]) -> String {
    if lines.is_empty() {
        return "No changes: nobody gains or loses access.\n".to_string();
    }
    let mut out = String::new();
    let mut current = "";
    for line in lines {
        if line.share != current {
            current = &line.share;
            out.push_str(&format!(
                "WorkflowShare {} (workflow {}):\n",
                line.share, line.workflow
            ));
        }
        let (mark, what) = match line.change {
            Change::Grant => ("+", "will be granted".to_string()),
            Change::Keep => ("=", "keeps access".to_string()),
            Change::Remove => (
                "-",
                match &line.deletes {
                    Some(entry) => {
                        format!("WILL BE REMOVED (SharedWorkflow {entry} will be deleted)")
                    }
                    None => "WILL BE REMOVED".to_string(),
                },
            ),
        };
        out.push_str(&format!("  {mark} {:<24} {what}\n", line.recipient));
    }
    out
}

/// Whether the diff changes anything (`kubectl diff` exits 1 then).
pub fn changes(lines: &[Line]) -> bool {
    lines.iter().any(|l| l.change != Change::Keep)
}
