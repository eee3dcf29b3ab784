//! Statuses of a large organization stay small: counts by state, the exceptions up
//! to a bound, never a list as long as the organization.

use super::*;

/// 64 KiB: the most any object the controller writes may hold, whatever the size
/// of the organization (the API server refuses a request past 1.5 MiB).
const BOUND: usize = 64 * 1024;

/// An organization of `n` workspaces with long names (63 characters, the most a
/// namespace name holds), one owned by another organization.
fn large(n: usize) -> Snapshot {
    let mut snap = snapshot(vec![], vec![]);
    for i in 0..n {
        snap.namespaces.push(ns(&long_name(i), Some("acme")));
    }
    snap
}

fn long_name(i: usize) -> String {
    let mut name = format!("espace-de-travail-{i:06}-");
    while name.len() < 63 {
        name.push('x');
    }
    name
}

fn size(status: &WorkflowShareStatus) -> usize {
    serde_json::to_vec(status)
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
}

#[test]
fn the_status_of_a_share_with_ten_thousand_workspaces_stays_under_64_kib() {
    let mut s = share("s", &[], true);
    // Explicit targets too, the most a share may list, each refused somehow.
    s.spec.workspaces = (0..998)
        .map(|i| format!("absent-{i:04}-{}", "y".repeat(40)))
        .chain(["elsewhere".to_string(), "plain".to_string()])
        .collect();
    s.spec.people = Some(People {
        users: (0..1000)
            .map(|i| format!("personne-{i}@{}", "z".repeat(200)))
            .collect(),
        groups: vec![],
    });
    let mut snap = large(10_000);
    snap.workflows = vec![workflow(false, None)];
    snap.shares = vec![s];
    let plan = plan_one(&snap);
    let full = &plan.shares[0].status;
    assert!(full.grants.len() > 11_000, "the planner keeps every grant");
    assert!(size(full) > 1024 * 1024, "unbounded, it is over a megabyte");

    let written = bounded(full.clone());
    assert!(size(&written) < BOUND, "{} bytes", size(&written));
    let counts = written.grant_counts.clone().unwrap_or_default();
    assert_eq!(counts.active, 10_002, "support, finance and the 10,000");
    assert_eq!(counts.pending, 998, "the absent workspaces");
    assert_eq!(counts.rejected, 2, "elsewhere (globex) and plain");
    assert_eq!(written.active_grants, 10_002);
    // The exceptions are listed, up to the bound; the rest are counted.
    assert_eq!(written.grants.len(), LISTED);
    assert!(written.grants.iter().all(|g| g.state != GrantState::Active));
    assert_eq!(
        usize::try_from(written.unlisted_grants).ok(),
        Some(full.grants.len() - LISTED)
    );
    assert_eq!(written.people.len(), LISTED);
    assert_eq!(written.unlisted_people, 1000 - 50);
    assert!(!lists_every_grant(&written));

    // The workflow's own status names a bounded number of recipients too.
    let workflow = plan.workflow_status.clone().unwrap_or_default();
    assert_eq!(workflow.shared_with.len(), LISTED);
    assert_eq!(workflow.active_grants, 10_002);
    let bytes = serde_json::to_vec(&workflow)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    assert!(bytes < BOUND, "{bytes} bytes");
}

#[test]
fn a_small_share_lists_every_grant() {
    let snap = snapshot(
        vec![workflow(false, None)],
        vec![share("s", &["support", "elsewhere"], false)],
    );
    let written = bounded(plan_one(&snap).shares[0].status.clone());
    let listed: Vec<(&str, GrantState)> = written
        .grants
        .iter()
        .map(|g| (g.workspace.as_str(), g.state))
        .collect();
    assert_eq!(
        listed,
        [
            ("elsewhere", GrantState::Rejected),
            ("support", GrantState::Active)
        ]
    );
    assert_eq!(written.unlisted_grants, 0);
    assert!(lists_every_grant(&written));
    let counts = written.grant_counts.unwrap_or_default();
    assert_eq!((counts.active, counts.rejected, counts.total()), (1, 1, 2));
}
