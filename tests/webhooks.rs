//! Webhook and AppEvent triggers on the real API server, with the controller as its
//! ServiceAccount: signed requests to a trigger's path fire it as its creator, every
//! answer of the receiver (201, 200, 401, 403, 404, 408, 409, 413, 422, 429), a
//! redelivery after a restart and across two replicas makes no second run, a token
//! rotates without a gap, a teammate who sees the trigger cannot read its token,
//! and a creator who left the workspace fires nothing.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::*;
use workflow_share::planner::webhook::{path_of, sign};
use workflow_share::resources::{Trigger, Workflow, WorkflowRun};

#[tokio::test]
async fn a_signed_request_fires_as_the_creator_and_each_wrong_one_is_answered_by_its_code() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let hook = bobs_hook(cp, "wh-codes", "on-push", |t| t, b"s3cr\xc3\xa9t").await;
    let port = cp.webhook_port;
    let body = br#"{"ref":"refs/heads/main","commits":[{"message":"\u00e9t\u00e9"}]}"#;
    let accepted_before = cp.metric("workflow_share_webhook_requests_total{result=\"accepted\"}");

    // Accepted: 201 with the run, which runs as bob with his groups.
    let (code, answer) = hook.post(port, body, Some("delivery-1"));
    assert_eq!(code, 201, "{answer}");
    let run_name = run_of(&answer);
    let runs: Api<WorkflowRun> = Api::namespaced(admin.clone(), &hook.ns);
    let run = runs.get(&run_name).await.expect("the run exists");
    assert_eq!(run.spec.run_as, "bob");
    assert_eq!(run.spec.trigger_ref.as_deref(), Some("on-push"));
    let groups = run
        .annotations()
        .get("sharing.workflows.dev/created-by-groups")
        .cloned();
    assert!(
        groups.is_some_and(|g| g.lines().any(|l| l == "sales-team")),
        "bob's groups"
    );
    let (phase, _) = run_decided(&admin, &hook.ns, &run_name).await;
    assert_eq!(phase, workflow_share::resources::RunPhase::Accepted);
    assert!(
        cp.metric("workflow_share_webhook_requests_total{result=\"accepted\"}") > accepted_before
    );

    // The same delivery again (GitHub's header this time): 200, the same run, no other.
    let signature = sign(&hook.token, body);
    let headers = [
        ("X-Hub-Signature-256", signature.as_str()),
        ("X-GitHub-Delivery", "delivery-1"),
    ];
    let (code, answer) = http_post(port, &hook.path, &headers, body);
    assert_eq!((code, run_of(&answer)), (200, run_name.clone()), "{answer}");
    assert_eq!(runs_of(&admin, &hook).await.len(), 1);

    // Without a delivery id every request is a run of its own.
    let (a, b) = (hook.post(port, body, None), hook.post(port, body, None));
    assert_eq!((a.0, b.0), (201, 201));
    assert_ne!(run_of(&a.1), run_of(&b.1));

    let bob = cp.as_user("bob").await;
    let nightly = trigger(&hook.ns, "nightly")
        .schedule("0 3 * * *")
        .workflow("deploy");
    apply(&bob, &nightly).await.expect("a schedule trigger");
    let triggers: Api<Trigger> = Api::namespaced(admin.clone(), &hook.ns);
    let uid = triggers
        .get("nightly")
        .await
        .expect("trigger")
        .uid()
        .expect("uid");
    let schedule = Hook {
        path: path_of(&uid),
        name: "nightly".into(),
        ..hook.clone()
    };
    unsigned_and_unknown_requests_are_refused_alike(&hook, &schedule, port, body);
    over_a_mebibyte_is_refused(&hook, port);
    a_slow_sender_times_out(&hook, port);

    let triggers: Api<Trigger> = Api::namespaced(admin.clone(), &hook.ns);
    let status = triggers
        .get("on-push")
        .await
        .expect("trigger")
        .status
        .expect("status");
    let last = status.last_delivery.expect("the last delivery");
    assert_eq!(last.result, "Created", "unsigned requests are not recorded");
    assert!(status.recent_fires.iter().any(|f| f.run == run_name));
}

/// 401 for no or a bad signature; 404 for a path of no trigger and for the path
/// a Schedule trigger would have, signed or not: the same answer either way.
fn unsigned_and_unknown_requests_are_refused_alike(
    hook: &Hook,
    schedule: &Hook,
    port: u16,
    body: &[u8],
) {
    assert_eq!(http_post(port, &hook.path, &[], body).0, 401, "unsigned");
    assert_eq!(
        hook.post_signed(port, b"a guess", body, None).0,
        401,
        "another token"
    );
    let tampered = sign(&hook.token, b"another body");
    let (code, _) = http_post(port, &hook.path, &[("X-Signature-256", &tampered)], body);
    assert_eq!(code, 401, "a signature of another body");
    let unknown = format!("/hooks/{}", "0".repeat(40));
    let not_found = http_post(port, &unknown, &[], body);
    assert_eq!(not_found.0, 404);
    assert_eq!(
        schedule.post(port, body, None),
        not_found,
        "a schedule's path is unknown"
    );
    assert_eq!(http_post(port, &schedule.path, &[], body), not_found);
    assert_eq!(http_post(port, "/anything", &[], body), not_found);
    assert_eq!(
        http_get(port, &hook.path).map(|a| a.split(' ').nth(1).map(str::to_string)),
        Some(Some("404".to_string())),
        "a GET"
    );
    let big = vec![b' '; (1 << 20) + 1];
    assert_eq!(
        http_post(port, &schedule.path, &[], &big).0,
        404,
        "404 before the body is read"
    );
}

/// 413 for a body over 1 MiB: declared (answered before it is sent) or chunked.
fn over_a_mebibyte_is_refused(hook: &Hook, port: u16) {
    use std::io::{Read, Write};
    let too_large = (1 << 20) + 1;
    let declared = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {too_large}\r\nExpect: 100-continue\r\n\r\n",
        hook.path
    );
    let chunked = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{too_large:x}\r\n",
        hook.path
    );
    for (head, body) in [(declared, 0), (chunked, too_large)] {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream.write_all(head.as_bytes()).expect("head");
        stream.write_all(&vec![b'x'; body]).expect("body");
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 413"), "{head}: {out}");
    }
}

/// A sender that promises a body and never sends it gets 408, not a held connection.
fn a_slow_sender_times_out(hook: &Hook, port: u16) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n{{",
        hook.path
    );
    stream.write_all(head.as_bytes()).expect("write");
    let started = std::time::Instant::now();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    // Nor headers that never end: the connection is closed.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream
        .write_all(b"POST /hooks/0 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .expect("write");
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let closed = stream.read_to_end(&mut out).is_ok();
    let took = started.elapsed();
    assert!(closed && took < Duration::from_secs(20), "{took:?}");
}

#[tokio::test]
async fn suspension_the_rate_limit_and_the_application_event_are_answered_in_order() {
    let cp = control_plane();
    let ns = "wh-limits";
    let hook = bobs_hook(
        cp,
        ns,
        "limited",
        |t| t.requests_per_minute(2),
        b"limit-token",
    )
    .await;
    let port = cp.webhook_port;
    let codes: Vec<u16> = (0..4)
        .map(|i| hook.post(port, b"{}", Some(&format!("r{i}"))).0)
        .collect();
    assert_eq!(codes, [201, 201, 429, 429], "2 a minute");
    assert_eq!(
        http_post(port, &hook.path, &[], b"{}").0,
        401,
        "unsigned: 401, not 429"
    );

    let bob = cp.as_user("bob").await;
    let suspended = trigger(ns, "paused")
        .webhook()
        .workflow("deploy")
        .suspend(true);
    apply(&bob, &suspended).await.expect("suspended trigger");
    let admin = cp.admin().await;
    let paused = wait_for_ready(&admin, ns, "paused", b"limit-token", "Suspended").await;
    assert_eq!(paused.post(port, b"{}", Some("p1")).0, 409);
    assert_eq!(
        http_post(port, &paused.path, &[], b"{}").0,
        401,
        "unsigned: 401 says nothing of suspension"
    );

    let crm = trigger(ns, "deal-won")
        .workflow("deploy")
        .app_event("crm", "deal.won", "hook-token");
    apply(&bob, &crm).await.expect("app event trigger");
    let crm = wait_for_path(&admin, ns, "deal-won", b"limit-token").await;
    let lost = br#"{"source":"crm","event":"deal.lost"}"#;
    assert_eq!(crm.post(port, lost, Some("e1")).0, 422);
    let won = br#"{"source":"crm","event":"deal.won","amount":12}"#;
    let (code, answer) = crm.post(port, won, Some("e2"));
    assert_eq!(code, 201, "{answer}");
    let triggers: Api<Trigger> = Api::namespaced(admin.clone(), ns);
    let status = triggers
        .get("deal-won")
        .await
        .expect("trigger")
        .status
        .expect("status");
    assert_eq!(status.last_delivery.expect("delivery").delivery_id, "e2");
}

#[tokio::test]
async fn a_token_rotates_without_a_gap_and_a_teammate_cannot_read_it() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let ns = "wh-rotate";
    let hook = bobs_hook(cp, ns, "rotating", |t| t, b"old-token").await;
    let port = cp.webhook_port;
    let secrets: Api<Secret> = Api::namespaced(cp.as_user("bob").await, ns);
    let add = json!({"data": {"next": base64("new-token")}});
    secrets
        .patch("hook-token", &PatchParams::default(), &Patch::Merge(&add))
        .await
        .expect("add a key");
    eventually("the new token is accepted", WAIT, || async {
        (hook.post_signed(port, b"new-token", b"{}", None).0 == 201).then_some(())
    })
    .await;
    assert_eq!(
        hook.post_signed(port, b"old-token", b"{}", None).0,
        201,
        "both, meanwhile"
    );
    let remove = json!({"data": {"token": null}});
    secrets
        .patch(
            "hook-token",
            &PatchParams::default(),
            &Patch::Merge(&remove),
        )
        .await
        .expect("remove the old key");
    eventually("the old token is refused", WAIT, || async {
        (hook.post_signed(port, b"old-token", b"{}", None).0 == 401).then_some(())
    })
    .await;
    let triggers: Api<Trigger> = Api::namespaced(admin.clone(), ns);
    let path = triggers
        .get("rotating")
        .await
        .expect("trigger")
        .status
        .expect("status")
        .webhook_path;
    assert_eq!(
        path.as_deref(),
        Some(hook.path.as_str()),
        "the path did not change"
    );

    // Grace is shared the trigger and sees it, path and all, but not the token.
    let bob = cp.as_user("bob").await;
    apply(
        &bob,
        &share(ns, "rotating")
            .trigger("rotating")
            .to_users(&["grace"]),
    )
    .await
    .expect("shared");
    let grace = cp.as_user("grace").await;
    let seen: Api<Trigger> = Api::namespaced(grace.clone(), ns);
    let shown = eventually("grace sees the trigger", WAIT, || async {
        seen.get("rotating").await.ok()
    })
    .await;
    let shown = serde_json::to_string(&shown).expect("json");
    assert!(!shown.contains("new-token") && !shown.contains(&base64("new-token")));
    let err = Api::<Secret>::namespaced(grace.clone(), ns)
        .get("hook-token")
        .await
        .expect_err("grace reads no Secret");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403),
        "{err}"
    );
    let listed = Api::<Secret>::namespaced(grace, ns)
        .list(&ListParams::default())
        .await;
    assert!(listed.is_err(), "nor lists them");

    // A Secret of another type under the name is never used.
    secrets
        .delete("hook-token", &DeleteParams::default())
        .await
        .expect("delete");
    let opaque = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("hook-token".into()),
            ..Default::default()
        },
        string_data: Some([("token".to_string(), "new-token".to_string())].into()),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &opaque)
        .await
        .expect("opaque");
    eventually("an Opaque Secret is no token", WAIT, || async {
        (hook.post_signed(port, b"new-token", b"{}", None).0 == 401).then_some(())
    })
    .await;
    eventually("Ready says so", WAIT, || async {
        let status = triggers.get("rotating").await.ok()?.status?;
        let ready = status.conditions.into_iter().find(|c| c.type_ == "Ready")?;
        (ready.reason == "TokenSecretNotFound").then_some(())
    })
    .await;
}

/// Archived, the workflow runs for nobody: the request is refused, no run is made;
/// restored, it fires again.
async fn bob_archives_the_workflow_and_nothing_fires_until_he_restores_it(
    cp: &ControlPlane,
    hook: &Hook,
    port: u16,
) {
    let workflows: Api<Workflow> = Api::namespaced(cp.as_user("bob").await, &hook.ns);
    let archive = |archived: bool| json!({"spec": {"archived": archived}});
    let params = PatchParams::default();
    workflows
        .patch("deploy", &params, &Patch::Merge(archive(true)))
        .await
        .expect("archived");
    let answer = eventually("an archived workflow is refused", WAIT, || async {
        let (code, answer) = hook.post(port, b"{}", None);
        (code == 403).then_some(answer)
    })
    .await;
    assert!(answer.contains("WorkflowArchived"), "{answer}");
    workflows
        .patch("deploy", &params, &Patch::Merge(archive(false)))
        .await
        .expect("restored");
    eventually("restored, it fires again", WAIT, || async {
        (hook.post(port, b"{}", None).0 == 201).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_creator_who_left_the_workspace_fires_nothing_and_the_refusal_is_recorded() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let ns = "wh-left";
    let hook = bobs_hook(cp, ns, "leaver", |t| t, b"leaver-token").await;
    let port = cp.webhook_port;
    assert_eq!(hook.post(port, b"{}", Some("before")).0, 201);
    bob_archives_the_workflow_and_nothing_fires_until_he_restores_it(cp, &hook, port).await;
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> = Api::namespaced(admin.clone(), ns);
    bindings
        .delete("member-bob", &DeleteParams::default())
        .await
        .expect("bob leaves");
    let (code, answer) = eventually("the creator's request is refused", WAIT, || async {
        let (code, answer) = hook.post(port, b"{}", None);
        (code == 403).then_some((code, answer))
    })
    .await;
    assert!(answer.contains("CreatorMayNotRun"), "{code} {answer}");
    // The API server's authorizer sees the delete a moment after it answered it, so
    // a request in that moment may still run; from the first refusal on, none does.
    let made = runs_of(&admin, &hook).await.len();
    for _ in 0..3 {
        assert_eq!(hook.post(port, b"{}", None).0, 403);
    }
    assert_eq!(
        runs_of(&admin, &hook).await.len(),
        made,
        "no run for a refused request"
    );
    let triggers: Api<Trigger> = Api::namespaced(admin.clone(), ns);
    let status = triggers
        .get("leaver")
        .await
        .expect("trigger")
        .status
        .expect("status");
    assert_eq!(status.recent_fires[0].outcome, "CreatorMayNotRun");
    assert_eq!(
        status.last_delivery.expect("delivery").result,
        "CreatorMayNotRun"
    );
    let events = events_about(&admin, ns, "CreatorMayNotRun", "leaver").await;
    assert!(!events.is_empty(), "a Warning Event on the trigger");
    eventually("Ready says the request was refused", WAIT, || async {
        let status = triggers.get("leaver").await.ok()?.status?;
        let ready = status.conditions.into_iter().find(|c| c.type_ == "Ready")?;
        (ready.reason == "DeliveryRefused" && ready.status == "False").then_some(())
    })
    .await;
}

#[tokio::test]
async fn one_delivery_is_one_run_across_a_restart_and_two_replicas() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let ns = "wh-replicas";
    let hook = bobs_hook(cp, ns, "twice", |t| t, b"twice-token").await;

    // A standby serves too; restarted, it knows the delivery it made a run for.
    let (standby, port) = replica(cp, "standby-1");
    let (code, answer) = hook.post(port, b"{}", Some("gh-42"));
    assert_eq!(code, 201, "the standby fires it: {answer}");
    let first = run_of(&answer);
    stop(standby);
    let (standby, port) = replica(cp, "standby-2");
    let (code, answer) = hook.post(port, b"{}", Some("gh-42"));
    assert_eq!(
        (code, run_of(&answer)),
        (200, first.clone()),
        "redelivered after a restart"
    );

    // The same delivery sent to two replicas at once makes one run.
    for round in 0..5 {
        let id = format!("both-{round}");
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| hook.post(cp.webhook_port, b"{}", Some(&id)));
            let b = s.spawn(|| hook.post(port, b"{}", Some(&id)));
            (a.join().expect("a"), b.join().expect("b"))
        });
        let mut codes = [a.0, b.0];
        codes.sort_unstable();
        assert_eq!(codes, [200, 201], "round {round}: one run, one duplicate");
        assert_eq!(run_of(&a.1), run_of(&b.1));
    }
    stop(standby);
    let names: Vec<_> = runs_of(&admin, &hook)
        .await
        .into_iter()
        .map(|r| r.name_any())
        .collect();
    assert!(names.contains(&first));
    assert_eq!(names.len(), 1 + 5, "{names:?}");
}
