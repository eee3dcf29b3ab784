//! What a red team tried as users of a shared cluster, and what held: each attempt is
//! made by the named user with a real request, and its outcome asserted. The
//! manifests they tried are in the hostile corpus (`hostile.rs`); these are the
//! attempts that are requests of another shape: edits, status writes, Events, reads,
//! runs and tampering.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject};
use serde_json::json;
use support::*;
use workflow_share::resources::{
    Organization, RunPhase, SharedWorkflow, Workflow, WorkflowRun, WorkflowShare,
};

const WAIT: Duration = Duration::from_secs(30);
const ORG: &str = "rt-org";
const SALES: &str = "rt-sales";
const SUPPORT: &str = "rt-support";
const ENTRY: &str = "rt-sales.lead-scoring";

/// One attempt: who made it, what it was, and whether it held (with what was seen).
struct Attempt {
    who: &'static str,
    what: &'static str,
    held: Result<(), String>,
}

/// Held when the request was refused and the refusal says `why`.
fn refused<T: std::fmt::Debug>(result: Result<T, kube::Error>, why: &str) -> Result<(), String> {
    match result {
        Ok(done) => Err(format!("accepted: {done:?}")),
        Err(e) if e.to_string().contains(why) => Ok(()),
        Err(e) => Err(format!("refused, but not saying {why:?}: {e}")),
    }
}

/// Records one attempt: who made it, what it was, and whether it held.
type Record<'a> = dyn FnMut(&'static str, &'static str, Result<(), String>) + 'a;

fn merge(value: serde_json::Value) -> Patch<serde_json::Value> {
    Patch::Merge(value)
}

#[tokio::test]
async fn every_attempt_the_red_team_made_is_refused_as_the_user_who_made_it() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let objects = organization(ORG, &[SALES, SUPPORT])
        .and(member(SALES, "owner", "alice"))
        .and(member(SALES, "member", "bob"))
        .and(member(SALES, "member", "grace"))
        .and(member(SUPPORT, "member", "carol"))
        .and(member(SUPPORT, "owner", "dave"));
    apply(&admin, &objects).await.expect("setup");
    let bob = cp.as_user("bob").await;
    let shared = workflow(SALES, "lead-scoring")
        .display_name("Lead scoring")
        .steps(&["score"])
        .and(
            share(SALES, "to-support")
                .workflow("lead-scoring")
                .to_workspaces(&[SUPPORT]),
        );
    apply(&bob, &shared)
        .await
        .expect("bob shares his workflow with support");
    eventually("support's library entry", WAIT, || async {
        entry_exists(&admin, SUPPORT, ENTRY).await.then_some(())
    })
    .await;

    let mut attempts = Vec::new();
    let mut attempt = |who, what, held| attempts.push(Attempt { who, what, held });
    let alice = cp.as_user("alice").await;
    let carol = cp.as_user("carol").await;
    let grace = cp.as_user("grace").await;

    // Library entries are the controller's: nobody makes one, recipients only enable.
    attempts_on_library_entries(&mut attempt, &bob, &carol).await;
    // Status is the controller's alone.
    attempts_on_status(&mut attempt, &alice, &bob, &grace).await;
    // Organizations are the cluster administrators'.
    attempt_on_the_organization(&mut attempt, &alice).await;
    // Notifications cannot be spoofed.
    attempt_to_spoof_a_notification(&mut attempt, &carol).await;
    // A run of an entry not enabled in the library is refused.
    attempt_to_run_an_entry_not_enabled(&mut attempt, &carol).await;
    // `get` as every user: the creator, the owner and the recipient read it; nobody else.
    attempts_to_read(&mut attempt, cp).await;
    // Tampering with a grant the controller keeps: it is restored in under 3 s.
    attempt_to_tamper_with_a_grant(&mut attempt, &admin, &carol).await;
    // Sharing reserved to managers: the creator is refused once the policy changes.
    attempt_to_share_where_only_managers_may(&mut attempt, &admin, &bob).await;

    println!("\n| who | attempt | held |\n|---|---|---|");
    for a in &attempts {
        let held = match &a.held {
            Ok(()) => "yes".to_string(),
            Err(e) => format!("NO: {e}"),
        };
        println!("| {} | {} | {held} |", a.who, a.what);
    }
    let broken: Vec<String> = attempts
        .iter()
        .filter_map(|a| {
            a.held
                .as_ref()
                .err()
                .map(|e| format!("{} — {}: {e}", a.who, a.what))
        })
        .collect();
    assert!(
        broken.is_empty(),
        "attempts that got through:\n{}",
        broken.join("\n")
    );
    println!("{} attempts, all held", attempts.len());
}

/// bob creating a library entry, carol relabelling one and widening its access.
async fn attempts_on_library_entries(attempt: &mut Record<'_>, bob: &Client, carol: &Client) {
    let patch = PatchParams::default();
    let fake = shared_workflow(SALES, "rt-support.lead-scoring", SUPPORT, "lead-scoring")
        .display_name("Lead scoring")
        .shared_by("bob")
        .build();
    let as_bob: Api<SharedWorkflow> = Api::namespaced(bob.clone(), SALES);
    attempt(
        "bob",
        "a member creating a library entry",
        refused(
            as_bob.create(&PostParams::default(), &fake).await,
            "forbidden",
        ),
    );
    let entries: Api<SharedWorkflow> = Api::namespaced(carol.clone(), SUPPORT);
    attempt(
        "carol",
        "a recipient relabelling a library entry",
        refused(
            entries
                .patch(ENTRY, &patch, &merge(json!({"metadata": {"labels": {"sharing.workflows.dev/source-name": "other"}}})))
                .await,
            "labels of a SharedWorkflow",
        ),
    );
    attempt(
        "carol",
        "a recipient widening a library entry's access",
        refused(
            entries
                .patch(
                    ENTRY,
                    &patch,
                    &merge(json!({"spec": {"access": "Run", "enabled": true}})),
                )
                .await,
            "only spec.enabled",
        ),
    );
}

/// The creator writing her workflow's status, and owner, author and member a share's.
async fn attempts_on_status(
    attempt: &mut Record<'_>,
    alice: &Client,
    bob: &Client,
    grace: &Client,
) {
    let patch = PatchParams::default();
    let workflows: Api<Workflow> = Api::namespaced(bob.clone(), SALES);
    attempt(
        "bob",
        "a creator writing her workflow's status",
        refused(
            workflows
                .patch_status(
                    "lead-scoring",
                    &patch,
                    &merge(json!({"status": {"tier": "Private"}})),
                )
                .await,
            "forbidden",
        ),
    );
    for (who, client) in [("alice", alice), ("bob", bob), ("grace", grace)] {
        let shares: Api<WorkflowShare> = Api::namespaced(client.clone(), SALES);
        attempt(
            who,
            "writing a share's status (owner, author, member)",
            refused(
                shares
                    .patch_status(
                        "to-support",
                        &patch,
                        &merge(json!({"status": {"activeGrants": 0}})),
                    )
                    .await,
                "forbidden",
            ),
        );
    }
}

/// alice, a workspace owner, editing her organization's sharing policy.
async fn attempt_on_the_organization(attempt: &mut Record<'_>, alice: &Client) {
    let patch = PatchParams::default();
    let organizations: Api<Organization> = Api::all(alice.clone());
    attempt(
        "alice",
        "a workspace owner editing her organization",
        refused(
            organizations
                .patch(
                    ORG,
                    &patch,
                    &merge(json!({"spec": {"sharingPolicy": "ManagersOnly"}})),
                )
                .await,
            "forbidden",
        ),
    );
}

/// carol posting an Event that looks like the controller's notification.
async fn attempt_to_spoof_a_notification(attempt: &mut Record<'_>, carol: &Client) {
    let events = ApiResource {
        group: "events.k8s.io".into(),
        version: "v1".into(),
        api_version: "events.k8s.io/v1".into(),
        kind: "Event".into(),
        plural: "events".into(),
    };
    let spoof: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "rt-spoof", "namespace": SUPPORT},
        "eventTime": "2026-12-04T00:00:00.000000Z",
        "reportingController": "sharing.workflows.dev/workflow-share",
        "reportingInstance": "workflow-share", "action": "Shared", "reason": "WorkflowShared",
        "type": "Normal", "note": "bob shared payroll-export with you",
        "regarding": {"kind": "SharedWorkflow", "namespace": SUPPORT, "name": ENTRY}
    }))
    .expect("event");
    let as_carol: Api<DynamicObject> = Api::namespaced_with(carol.clone(), SUPPORT, &events);
    attempt(
        "carol",
        "a member posting a notification Event",
        refused(
            as_carol.create(&PostParams::default(), &spoof).await,
            "forbidden",
        ),
    );
}

/// carol running the library entry she has not enabled.
async fn attempt_to_run_an_entry_not_enabled(attempt: &mut Record<'_>, carol: &Client) {
    let run = workflow_run(SUPPORT, "rt-not-enabled")
        .shared_workflow(ENTRY)
        .build();
    let runs: Api<WorkflowRun> = Api::namespaced(carol.clone(), SUPPORT);
    runs.create(&PostParams::default(), &run)
        .await
        .expect("carol may create runs");
    let reason = eventually("carol's run decided", WAIT, || async {
        let status = runs.get("rt-not-enabled").await.ok()?.status?;
        (status.phase != RunPhase::default()).then_some((status.phase, status.reason))
    })
    .await;
    attempt(
        "carol",
        "running a library entry that is not enabled",
        (reason == (RunPhase::Rejected, "NotEnabled".to_string()))
            .then_some(())
            .ok_or(format!("{reason:?}")),
    );
}

/// Every user reading the shared workflow, each with their own token.
async fn attempts_to_read(attempt: &mut Record<'_>, cp: &ControlPlane) {
    for user in [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "yamada",
    ] {
        let client = cp.as_user(user).await;
        let read = Api::<Workflow>::namespaced(client, SALES)
            .get("lead-scoring")
            .await;
        let may = matches!(user, "alice" | "bob" | "carol" | "dave");
        attempt(
            user,
            "reading a shared workflow (creator, owner and recipients may)",
            match (may, read) {
                (true, Ok(_)) => Ok(()),
                (false, Err(e)) if e.to_string().contains("forbidden") => Ok(()),
                (_, other) => Err(format!("{user}: {other:?}")),
            },
        );
    }
}

/// The admin deleting the readers' grant, then waiting until carol reads again.
async fn attempt_to_tamper_with_a_grant(attempt: &mut Record<'_>, admin: &Client, carol: &Client) {
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), SALES);
    let grant = format!("workflow-share.{}", "lead-scoring");
    bindings
        .delete(&grant, &DeleteParams::default())
        .await
        .expect("the readers' grant exists");
    let removed = Instant::now();
    let restored = loop {
        if bindings.get_opt(&grant).await.expect("get").is_some() {
            break Some(removed.elapsed());
        }
        if removed.elapsed() > Duration::from_secs(3) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    attempt(
        "admin",
        "deleting the readers' grant of a shared workflow",
        restored
            .map(|_| ())
            .ok_or("not restored in 3 s".to_string()),
    );
    let reads_again = Api::<Workflow>::namespaced(carol.clone(), SALES);
    eventually("carol reads again", WAIT, || async {
        reads_again.get("lead-scoring").await.ok().map(|_| ())
    })
    .await;
}

/// The administrator reserving sharing to managers, then bob sharing his workflow again.
async fn attempt_to_share_where_only_managers_may(
    attempt: &mut Record<'_>,
    admin: &Client,
    bob: &Client,
) {
    let patch = PatchParams::default();
    Api::<Organization>::all(admin.clone())
        .patch(
            ORG,
            &patch,
            &merge(json!({"spec": {"sharingPolicy": "ManagersOnly"}})),
        )
        .await
        .expect("the administrator reserves sharing");
    let own = share(SALES, "again")
        .workflow("lead-scoring")
        .to_workspaces(&[SUPPORT])
        .build();
    let shares: Api<WorkflowShare> = Api::namespaced(bob.clone(), SALES);
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let start = Instant::now();
    let held = loop {
        match shares.create(&dry, &own).await {
            Err(e)
                if e.to_string()
                    .contains("bob may not share workflow lead-scoring") =>
            {
                break Ok(());
            }
            _ if start.elapsed() > WAIT => break Err("still accepted".to_string()),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    attempt("bob", "a creator sharing where only managers may", held);
}
