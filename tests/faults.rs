//! Faults during convergence, on the real control plane:
//! - the controller is SIGKILLed at 20 seeded-random moments, 10 while an
//!   organization-wide sharing converges and 10 while it is revoked en masse: the
//!   final state is exact (every grant, no orphan, one notification per grant);
//! - the API server, then etcd, restart while sharing converges: the same
//!   controller process recovers by itself and converges;
//! - writers editing the same share concurrently: the grants follow the last spec.

mod support;

use std::time::Duration;

use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;
use support::*;
use workflow_share::resources::{SharedWorkflow, WorkflowShare};

/// One test at a time: these stop and restart what the others rely on.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Long enough for a whole organization to converge on this machine.
const CONVERGE: Duration = Duration::from_secs(120);

/// A small seeded generator (xorshift64*), so a failing run can be replayed.
struct Seeded(u64);

impl Seeded {
    fn next_below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

struct Org {
    src: String,
    recipients: Vec<String>,
    workflows: Vec<String>,
}

async fn populated_organization(
    admin: &kube::Client,
    prefix: &str,
    recipients: usize,
    workflows: usize,
) -> Org {
    let src = format!("{prefix}-src");
    let recipients: Vec<String> = (0..recipients).map(|i| format!("{prefix}-ws{i}")).collect();
    let mut names: Vec<&str> = vec![src.as_str()];
    names.extend(recipients.iter().map(String::as_str));
    let mut objects = Objects::of(organization(&format!("{prefix}-org"), &names));
    for (i, ws) in recipients.iter().enumerate() {
        objects += member(ws, "manager", &format!("{prefix}-manager-{i}"));
    }
    let workflows: Vec<String> = (0..workflows).map(|i| format!("wf-{i}")).collect();
    for wf in &workflows {
        objects += workflow(&src, wf);
    }
    apply(admin, &objects).await.expect("organization");
    Org {
        src,
        recipients,
        workflows,
    }
}

fn org_wide_shares(org: &Org) -> Objects {
    let mut shares = Objects::default();
    for wf in &org.workflows {
        shares += share(&org.src, wf).workflow(wf).entire_organization();
    }
    shares
}

/// Library entries of `org`'s workflows, as (workspace, name), sorted.
async fn entries(admin: &kube::Client, org: &Org) -> Vec<(String, String)> {
    let api: Api<SharedWorkflow> = Api::all(admin.clone());
    let lp = ListParams::default().labels(&format!(
        "sharing.workflows.dev/source-namespace={}",
        org.src
    ));
    let mut out: Vec<(String, String)> = api
        .list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            (
                e.metadata.namespace.unwrap_or_default(),
                e.metadata.name.unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn all_granted(admin: &kube::Client, org: &Org) -> bool {
    entries(admin, org).await.len() == org.recipients.len() * org.workflows.len()
}

/// The reader grants in the owner workspace: how many Roles and RoleBindings of
/// single workflows, and the workflows the organization readers grant lists (empty
/// when its Role or RoleBinding is missing).
async fn reader_grants(admin: &kube::Client, org: &Org) -> (usize, Vec<String>) {
    let per_workflow = |name: Option<&str>| name.is_some_and(|n| n.starts_with("workflow-share."));
    let organization = "workflow-share-organization-readers";
    let roles = Api::<Role>::namespaced(admin.clone(), &org.src)
        .list(&Default::default())
        .await
        .expect("roles")
        .items;
    let bindings = Api::<RoleBinding>::namespaced(admin.clone(), &org.src)
        .list(&Default::default())
        .await
        .expect("bindings")
        .items;
    let single = roles
        .iter()
        .filter(|r| per_workflow(r.metadata.name.as_deref()))
        .count()
        + bindings
            .iter()
            .filter(|b| per_workflow(b.metadata.name.as_deref()))
            .count();
    let bound = bindings
        .iter()
        .any(|b| b.metadata.name.as_deref() == Some(organization));
    let mut listed: Vec<String> = roles
        .iter()
        .filter(|r| bound && r.metadata.name.as_deref() == Some(organization))
        .flat_map(|r| r.rules.iter().flatten())
        .flat_map(|rule| rule.resource_names.iter().flatten().cloned())
        .collect();
    listed.sort();
    (single, listed)
}

/// Every grant notified exactly once.
async fn assert_notified_once(admin: &kube::Client, org: &Org) {
    for ws in &org.recipients {
        for wf in &org.workflows {
            let entry = format!("{}.{wf}", org.src);
            let n = events_about(admin, ws, "WorkflowShared", &entry)
                .await
                .len();
            if n != 1 {
                explain_notifications(admin, org, ws, wf).await;
            }
            assert_eq!(n, 1, "{ws}/{entry}: {n} notifications");
        }
    }
}

/// What a failed notification count needs to be understood: the grant as its
/// share reports it, the entry's UID, and every Event in the recipient workspace.
async fn explain_notifications(admin: &kube::Client, org: &Org, ws: &str, wf: &str) {
    let share = Api::<WorkflowShare>::namespaced(admin.clone(), &org.src)
        .get(wf)
        .await;
    println!("share {}/{wf}: {:?}", org.src, share.map(|s| s.status));
    let entry = format!("{}.{wf}", org.src);
    let sw = Api::<SharedWorkflow>::namespaced(admin.clone(), ws)
        .get(&entry)
        .await;
    println!("entry {ws}/{entry}: {:?}", sw.map(|s| s.metadata.uid));
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(admin.clone(), ws)
        .list(&Default::default())
        .await;
    for event in events.map(|l| l.items).unwrap_or_default() {
        println!(
            "event {:?} {:?} about {:?}",
            event.metadata.name, event.reason, event.regarding
        );
    }
}

/// SIGKILLs the controller `kills` times, each after a random pause, restarting
/// it every time (it leads again once the dead replica's Lease expires).
async fn kill_at_random_moments(cp: &ControlPlane, rng: &mut Seeded, kills: usize) {
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.next_below(1500))).await;
        cp.stop_controller(true);
        cp.start_controller();
    }
}

async fn all_ready(shares: &Api<WorkflowShare>) -> bool {
    shares.list(&Default::default()).await.is_ok_and(|l| {
        l.items.iter().all(|s| {
            s.status.as_ref().is_some_and(|st| {
                st.observed_generation == s.metadata.generation
                    && st
                        .conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            })
        })
    })
}

#[tokio::test]
async fn sigkill_at_twenty_moments_leaves_the_exact_state() {
    let _serial = SERIAL.lock().await;
    let cp = control_plane();
    let admin = cp.admin().await;
    let seed = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_123);
    println!("seed {seed} (FAULT_SEED={seed} replays it)");
    let mut rng = Seeded(seed);
    let org = populated_organization(&admin, "fk", 8, 20).await;
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), &org.src);

    apply(&admin, &org_wide_shares(&org)).await.expect("shares");
    kill_at_random_moments(cp, &mut rng, 10).await;
    eventually("every grant after 10 kills", CONVERGE, || async {
        all_granted(&admin, &org).await.then_some(())
    })
    .await;
    eventually("every share Ready", CONVERGE, || async {
        all_ready(&shares).await.then_some(())
    })
    .await;
    let mut workflows = org.workflows.clone();
    workflows.sort();
    assert_eq!(
        reader_grants(&admin, &org).await,
        (0, workflows),
        "one organization readers grant lists every workflow"
    );
    assert_notified_once(&admin, &org).await;

    // Mass revocation, with 10 more kills.
    for wf in &org.workflows {
        shares
            .delete(wf, &DeleteParams::default())
            .await
            .expect("revoke");
    }
    kill_at_random_moments(cp, &mut rng, 10).await;
    eventually(
        "every grant revoked after 10 more kills",
        CONVERGE,
        || async {
            let gone = entries(&admin, &org).await.is_empty()
                && shares
                    .list(&Default::default())
                    .await
                    .is_ok_and(|l| l.items.is_empty())
                && reader_grants(&admin, &org).await == (0, Vec::new());
            gone.then_some(())
        },
    )
    .await;
    // The grants were notified once each, and nothing was sent again.
    assert_notified_once(&admin, &org).await;
}

#[tokio::test]
async fn the_controller_rides_out_api_server_and_etcd_restarts() {
    let _serial = SERIAL.lock().await;
    let cp = control_plane();
    let pid = std::fs::read_to_string(cp.dir.join("controller.pid")).expect("pid");
    for (component, prefix) in [("apiserver", "fa"), ("etcd", "fe")] {
        let admin = cp.admin().await;
        let org = populated_organization(&admin, prefix, 6, 15).await;
        apply(&admin, &org_wide_shares(&org)).await.expect("shares");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = std::process::Command::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/controlplane/restart.sh"),
        )
        .arg(&cp.dir)
        .arg(component)
        .status()
        .expect("restart.sh");
        assert!(status.success(), "{component} restarted");
        // A fresh client: the old connections broke with the restart.
        let admin = cp.admin().await;
        eventually(
            &format!("converged after the {component} restart"),
            CONVERGE,
            || async { all_granted(&admin, &org).await.then_some(()) },
        )
        .await;
        let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), &org.src);
        eventually("every share Ready", CONVERGE, || async {
            all_ready(&shares).await.then_some(())
        })
        .await;
        assert_notified_once(&admin, &org).await;
        assert_eq!(
            std::fs::read_to_string(cp.dir.join("controller.pid")).expect("pid"),
            pid,
            "the same controller process recovered"
        );
        assert!(cp.leads(), "and still leads");
    }
}

#[tokio::test]
async fn concurrent_writers_end_at_the_last_spec() {
    let _serial = SERIAL.lock().await;
    let cp = control_plane();
    let admin = cp.admin().await;
    let org = populated_organization(&admin, "fw", 6, 1).await;
    apply(
        &admin,
        &share(&org.src, "wf-0")
            .workflow("wf-0")
            .to_workspaces(&["fw-ws0"]),
    )
    .await
    .expect("share");
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), &org.src);
    // Four writers at once, 10 rounds each, each writing its own list of workspaces.
    let writers = (0..4).map(|w| {
        let shares = shares.clone();
        let recipients = org.recipients.clone();
        async move {
            for round in 0..10 {
                let pick: Vec<&String> = recipients
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| (i + w + round) % 3 == 0)
                    .map(|(_, r)| r)
                    .collect();
                shares
                    .patch(
                        "wf-0",
                        &PatchParams::default(),
                        &Patch::Merge(json!({"spec": {"workspaces": pick}})),
                    )
                    .await
                    .expect("a writer's edit");
            }
        }
    });
    futures::future::join_all(writers).await;
    let last = shares.get("wf-0").await.expect("share");
    let mut want: Vec<(String, String)> = last
        .spec
        .workspaces
        .iter()
        .map(|ws| (ws.clone(), format!("{}.wf-0", org.src)))
        .collect();
    want.sort();
    assert!(!want.is_empty());
    eventually("the grants follow the last spec", CONVERGE, || async {
        (entries(&admin, &org).await == want).then_some(())
    })
    .await;
    eventually("the status describes the last spec", CONVERGE, || async {
        let st = shares.get("wf-0").await.ok()?.status?;
        (st.observed_generation == last.metadata.generation).then_some(())
    })
    .await;
}
