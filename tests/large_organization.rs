//! An organization too large for one status or one RoleBinding: every object the
//! controller writes stays under 64 KiB, the per-workspace truth is on the
//! recipients' side (their entries and the labels they carry), and access still
//! begins, ends, is suspended and returns as a member sees it with real requests.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::*;
use workflow_share::resources::{GrantState, SharedWorkflow, Workflow, WorkflowShare};

/// Recipient workspaces: with their members' long names, their subjects take more
/// than one RoleBinding part, and their grants more than a status lists.
const WORKSPACES: usize = 150;
const OWNER: &str = "lg-sales";
const BIG: usize = 64 * 1024;
const LONG_WAIT: Duration = Duration::from_secs(120);

fn workspace_name(i: usize) -> String {
    format!("lg-ws-{i:03}")
}

/// The member of workspace `i`: a long name, as some directories have.
fn member_name(i: usize) -> String {
    format!(
        "{}-{i:03}@exemple.fr",
        "équipe-de-la-qualification-des-leads".repeat(5)
    )
}

fn json_size<T: serde::Serialize>(object: &T) -> usize {
    serde_json::to_vec(object).map_or(usize::MAX, |v| v.len())
}

/// `kubectl get sharedworkflows -A -l <source labels>,sharing.workflows.dev/state=STATE`.
async fn entries_in_state(admin: &Client, state: &str) -> usize {
    let selector = format!(
        "{}={OWNER},{}=report,{}={state}",
        workflow_share::labels::SOURCE_NAMESPACE,
        workflow_share::labels::SOURCE_WORKFLOW,
        workflow_share::labels::STATE,
    );
    let api: Api<SharedWorkflow> = Api::all(admin.clone());
    api.list(&ListParams::default().labels(&selector))
        .await
        .map_or(0, |l| l.items.len())
}

/// Whether `user` (a member of workspace `i`) reads the workflow, by a real GET.
async fn reads(cp: &ControlPlane, i: usize) -> bool {
    let user = member_name(i);
    let client = cp.impersonating(&user, &["system:authenticated"]).await;
    let api: Api<Workflow> = Api::namespaced(client, OWNER);
    api.get("report").await.is_ok()
}

/// Every RoleBinding of the organization readers grant, and none over 64 KiB.
async fn readers_bindings(admin: &Client) -> Vec<RoleBinding> {
    let api: Api<RoleBinding> = Api::namespaced(admin.clone(), OWNER);
    let all = api.list(&ListParams::default()).await.expect("bindings");
    let parts: Vec<RoleBinding> = all
        .items
        .into_iter()
        .filter(|b| {
            b.name_any()
                .starts_with("workflow-share-organization-readers")
        })
        .collect();
    for b in &parts {
        let size = json_size(b);
        assert!(size < BIG, "{}: {size} bytes", b.name_any());
    }
    parts
}

#[tokio::test]
async fn a_large_organization_keeps_every_object_small_and_access_exact() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let names: Vec<String> = (0..WORKSPACES).map(workspace_name).collect();
    let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
    all.push(OWNER);
    let mut objects = organization("lg-org", &all).and(workflow(OWNER, "report"));
    for (i, ws) in names.iter().enumerate() {
        objects += member(ws, "member", &member_name(i));
    }
    apply(&admin, &objects).await.expect("organization");
    apply(
        &admin,
        &share(OWNER, "report")
            .workflow("report")
            .entire_organization(),
    )
    .await
    .expect("share");

    // Every workspace granted: counted, the active ones not listed one by one.
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), OWNER);
    let status = eventually("every workspace granted", LONG_WAIT, || async {
        let s = shares.get("report").await.ok()?.status?;
        let counts = s.grant_counts.clone()?;
        let ready = s
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        (ready && counts.active == WORKSPACES as i32).then_some(s)
    })
    .await;
    assert!(status.grants.is_empty(), "no exceptions to list");
    assert_eq!(status.unlisted_grants, WORKSPACES as i32);
    assert_eq!(status.active_grants, WORKSPACES as i32);
    assert_eq!(entries_in_state(&admin, "Active").await, WORKSPACES);

    // The organization readers grant is split into parts, none over 64 KiB, that
    // together bind every member; members read the workflow, an outsider does not.
    let parts = eventually("every member bound", LONG_WAIT, || async {
        let parts = readers_bindings(&admin).await;
        let bound: BTreeSet<String> = parts
            .iter()
            .flat_map(|b| b.subjects.iter().flatten().map(|s| s.name.clone()))
            .collect();
        (0..WORKSPACES)
            .all(|i| bound.contains(&member_name(i)))
            .then_some(parts)
    })
    .await;
    assert!(
        parts.len() > 1,
        "one binding would be {} parts",
        parts.len()
    );
    for i in [0, WORKSPACES / 2, WORKSPACES - 1] {
        assert!(reads(cp, i).await, "member of {}", workspace_name(i));
    }
    let outsider = cp.impersonating("mallory", &["system:authenticated"]).await;
    let api: Api<Workflow> = Api::namespaced(outsider, OWNER);
    assert!(
        api.get("report").await.is_err(),
        "an outsider reads nothing"
    );

    leaves_and_returns(cp, &admin, WORKSPACES / 3).await;

    // Archived: every entry stays, suspended; the status lists 50 of them, counts all.
    let workflows: Api<Workflow> = Api::namespaced(admin.clone(), OWNER);
    let archive = |archived: bool| json!({"spec": {"archived": archived}});
    workflows
        .patch(
            "report",
            &PatchParams::default(),
            &Patch::Merge(archive(true)),
        )
        .await
        .expect("archive");
    let remaining = WORKSPACES;
    eventually("every entry suspended", LONG_WAIT, || async {
        (entries_in_state(&admin, "Suspended").await == remaining).then_some(())
    })
    .await;
    assert!(!reads(cp, 0).await, "archived: nobody reads it");
    let status = eventually("suspended, counted", LONG_WAIT, || async {
        let s = shares.get("report").await.ok()?.status?;
        (s.grant_counts.as_ref()?.suspended == remaining as i32).then_some(s)
    })
    .await;
    assert_eq!(status.grants.len(), workflow_share::planner::LISTED);
    assert!(
        status
            .grants
            .iter()
            .all(|g| g.state == GrantState::Suspended)
    );
    assert_eq!(
        status.unlisted_grants as usize,
        remaining - workflow_share::planner::LISTED
    );

    // Restored: access returns, and nobody is notified a second time.
    workflows
        .patch(
            "report",
            &PatchParams::default(),
            &Patch::Merge(archive(false)),
        )
        .await
        .expect("restore");
    eventually("access returns", LONG_WAIT, || async {
        (entries_in_state(&admin, "Active").await == remaining && reads(cp, 0).await).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let entry = format!("{OWNER}.report");
    for i in [0, WORKSPACES - 1] {
        let notes = events_about(&admin, &workspace_name(i), "WorkflowShared", &entry).await;
        assert_eq!(notes.len(), 1, "{}: notified once", workspace_name(i));
    }

    // Nothing the controller wrote in the owner workspace is over 64 KiB.
    let share = shares.get("report").await.expect("share");
    assert!(
        json_size(&share) < BIG,
        "share: {} bytes",
        json_size(&share)
    );
    let wf = workflows.get("report").await.expect("workflow");
    assert!(json_size(&wf) < BIG, "workflow: {} bytes", json_size(&wf));
    let org: Api<workflow_share::resources::Organization> = Api::all(admin.clone());
    let org = org.get("lg-org").await.expect("organization");
    assert!(
        json_size(&org) < BIG,
        "organization: {} bytes",
        json_size(&org)
    );
    readers_bindings(&admin).await;
}

/// A workspace leaves: its member's access ends, whichever part bound them, and the
/// share names the change in its Events, though its status lists nobody. Then it
/// returns: granted again, and reported.
async fn leaves_and_returns(cp: &ControlPlane, admin: &Client, leaver: usize) {
    leave_organization(admin, &workspace_name(leaver)).await;
    eventually("the leaver's access ends", LONG_WAIT, || async {
        (!reads(cp, leaver).await).then_some(())
    })
    .await;
    assert!(reads(cp, leaver + 1).await, "the others keep theirs");
    // The share names the change in its Events, though its status lists nobody.
    let reported = |reason: &'static str, i: usize| {
        let (admin, note) = (
            admin.clone(),
            format!("1 workspace(s): {}", workspace_name(i)),
        );
        async move {
            events_about(&admin, OWNER, reason, "report")
                .await
                .iter()
                .any(|e| e.note.as_deref().is_some_and(|n| n.ends_with(&note)))
                .then_some(())
        }
    };
    eventually("the leaver reported revoked", LONG_WAIT, || {
        reported("Revoked", leaver)
    })
    .await;
    // And back: granted again, and reported.
    Api::<Namespace>::all(admin.clone())
        .patch(
            &workspace_name(leaver),
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"sharing.workflows.dev/organization": "lg-org"}}}),
            ),
        )
        .await
        .expect("join again");
    eventually("the leaver reads again", LONG_WAIT, || async {
        reads(cp, leaver).await.then_some(())
    })
    .await;
    eventually(
        "the returning workspace reported granted",
        LONG_WAIT,
        || reported("Granted", leaver),
    )
    .await;
}
