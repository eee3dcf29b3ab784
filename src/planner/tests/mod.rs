//! Table-driven tests of the pure planner, with the fixtures they share:
//! - `scopes`: scopes × organization boundaries × archival × de-identification,
//!   people, and notification bookkeeping;
//! - `creators`: the creator's grant, the object a share grants, the access a
//!   workspace holds;
//! - `organizations`: organization boundaries, tiers, who may share, settling and
//!   the organization readers grant;
//! - `bounded`: statuses of large organizations stay small.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;
use crate::resources::*;

mod bounded;
mod creators;
mod organizations;
mod scopes;

fn ns(name: &str, org: Option<&str>) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: org.map(|o| [(crate::labels::ORGANIZATION.to_string(), o.to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn org(name: &str, deid_default: bool) -> Organization {
    let mut o = Organization::new(
        name,
        OrganizationSpec {
            deidentification_default: deid_default,
            ..Default::default()
        },
    );
    o.metadata.name = Some(name.into());
    o
}

fn role(name: &str, role: &str) -> ClusterRole {
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some([(crate::labels::WORKSPACE_ROLE.to_string(), role.to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn binding(ns: &str, cluster_role: &str, user: &str) -> RoleBinding {
    RoleBinding {
        metadata: ObjectMeta {
            name: Some(format!("{cluster_role}-{user}")),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: cluster_role.into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: user.into(),
            ..Default::default()
        }]),
    }
}

fn workflow(archived: bool, deid: Option<bool>) -> Workflow {
    let mut w = Workflow::new(
        "wf",
        WorkflowSpec {
            display_name: "WF".into(),
            archived,
            deidentification: deid.map(|enabled| workflow::Deidentification { enabled }),
            ..Default::default()
        },
    );
    w.metadata.namespace = Some("sales".into());
    w.metadata.generation = Some(1);
    w
}

fn share(name: &str, workspaces: &[&str], org_wide: bool) -> WorkflowShare {
    let mut s = WorkflowShare::new(
        name,
        WorkflowShareSpec {
            workflow_ref: WorkflowRef {
                name: "wf".into(),
                namespace: None,
            },
            workspaces: workspaces.iter().map(|w| w.to_string()).collect(),
            entire_organization: org_wide,
            ..Default::default()
        },
    );
    s.metadata.namespace = Some("sales".into());
    s
}

fn snapshot(workflows: Vec<Workflow>, shares: Vec<WorkflowShare>) -> Snapshot {
    Snapshot {
        organizations: vec![org("acme", true), org("globex", true)],
        namespaces: vec![
            ns("sales", Some("acme")),
            ns("support", Some("acme")),
            ns("finance", Some("acme")),
            ns("elsewhere", Some("globex")),
            ns("plain", None),
            ns("ghost-org", Some("nobody")),
        ],
        cluster_roles: vec![role("ws-owner", "owner"), role("ws-member", "member")],
        role_bindings: vec![
            binding("support", "ws-member", "dave"),
            binding("support", "ws-owner", "carol"),
            binding("sales", "ws-member", "bob"),
        ],
        workflows,
        shares,
    }
}

/// `snapshot` with people bound in workspaces: frank and Zoë in finance, the group
/// auditors in support (all of acme), mallory in globex's workspace.
fn snapshot_with_people(workflows: Vec<Workflow>, shares: Vec<WorkflowShare>) -> Snapshot {
    let mut snap = snapshot(workflows, shares);
    snap.role_bindings.extend([
        binding("finance", "ws-member", "frank"),
        binding("finance", "ws-member", "Zoë"),
        group_binding("support", "ws-member", "auditors"),
        binding("elsewhere", "ws-member", "mallory"),
    ]);
    snap
}

fn states(plan: &WorkflowPlan) -> Vec<(String, GrantState, String)> {
    plan.shares
        .iter()
        .flat_map(|s| s.status.grants.iter())
        .map(|g| (g.workspace.clone(), g.state, g.reason.clone()))
        .collect()
}

/// `Kind:name` of every RBAC subject the plan grants (empty without RBAC).
fn subject_names(plan: &WorkflowPlan) -> Vec<String> {
    plan.rbac
        .iter()
        .flat_map(|r| r.subjects.iter())
        .map(|m| format!("{}:{}", m.kind, m.name))
        .collect()
}

/// Everyone who may read the workflow: its own grant's subjects and, when it is
/// organization-readable, those of its workspace's organization readers grant.
fn reader_names(snap: &Snapshot, plan: &WorkflowPlan) -> Vec<String> {
    let organization = plan
        .organization_readable
        .then(|| {
            plan_organization_readers(&snap.directory(), &plan.namespace, [plan.workflow.as_str()])
        })
        .flatten();
    let mut names: Vec<String> = plan
        .rbac
        .iter()
        .chain(&organization)
        .flat_map(|r| r.subjects.iter())
        .map(|m| format!("{}:{}", m.kind, m.name))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn plan_one(snap: &Snapshot) -> WorkflowPlan {
    let key = WorkflowKey {
        namespace: "sales".into(),
        name: "wf".into(),
    };
    snap.plan(&key, &snap.directory(), "2026-01-01T00:00:00Z")
}

/// Plans sales/wf from `snap` with these library entries existing (by workspace)
/// and these shares' authors refused.
fn plan_with(
    snap: &Snapshot,
    entries: &BTreeMap<String, ExistingEntry>,
    unauthorized: &BTreeSet<String>,
) -> WorkflowPlan {
    plan_in(&snap.directory(), snap, "sales", entries, unauthorized)
}

/// Plans `owner`/wf from the workflows and shares of `snap` against `directory`.
fn plan_in(
    directory: &crate::planner::Directory,
    snap: &Snapshot,
    owner: &str,
    entries: &BTreeMap<String, ExistingEntry>,
    unauthorized: &BTreeSet<String>,
) -> WorkflowPlan {
    let shares: Vec<&WorkflowShare> = snap.shares.iter().collect();
    plan_workflow(
        directory,
        &WorkflowInputs {
            namespace: owner,
            name: "wf",
            workflow: snap.workflows.first(),
            shares: &shares,
            entries,
            unauthorized,
        },
        "2026-01-01T00:00:00Z",
    )
}

fn created_by(mut w: Workflow, user: &str) -> Workflow {
    w.metadata.annotations =
        Some([(crate::labels::CREATED_BY.to_string(), user.to_string())].into());
    w
}

fn tier(plan: &WorkflowPlan) -> Option<Tier> {
    plan.workflow_status.as_ref().and_then(|s| s.tier)
}

/// A group binding of `group` to `cluster_role` in `ns`.
fn group_binding(ns: &str, cluster_role: &str, group: &str) -> RoleBinding {
    let mut b = binding(ns, cluster_role, group);
    if let Some(subjects) = b.subjects.as_mut() {
        subjects[0].kind = "Group".into();
    }
    b
}
