//! kstatus — how Flux, `kubectl wait` and cli-utils judge a custom resource — on
//! objects the controller really wrote, computed by the kstatus library itself
//! (sigs.k8s.io/cli-utils, built from its Go module by hack/kstatus/build.sh).

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use support::*;

/// kstatus's verdict on one object: Current, InProgress, Failed, Terminating, ...
fn kstatus(obj: &Value) -> String {
    let mut child = Command::new(built_tool("kstatus"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kstatus checker");
    let input = serde_json::to_vec(&json!([obj])).expect("json");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write");
    let out = child.wait_with_output().expect("kstatus checker");
    assert!(
        out.status.success(),
        "kstatus: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict: Value = serde_json::from_slice(&out.stdout).expect("kstatus output");
    verdict["status"].as_str().unwrap_or_default().to_string()
}

async fn status_of<K: kube::Resource<DynamicType = ()>>(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Option<String> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &api_resource::<K>());
    let obj = serde_json::to_value(api.get(name).await.ok()?).ok()?;
    Some(kstatus(&obj))
}

#[tokio::test]
async fn our_objects_read_as_current_in_progress_or_failed() {
    use workflow_share::resources::{Trigger, WorkflowRun, WorkflowShare};
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("ks-sales", "ks-support");
    let mut objects = organization("ks-org", &[sales, support])
        .and(organization("ks-other", &["ks-elsewhere"]))
        .and(workflow(sales, "plan"));
    for (name, target) in [
        ("good", "ks-support"),
        ("waits", "ks-later"),
        ("bad", "ks-elsewhere"),
    ] {
        objects += share(sales, name).workflow("plan").to_workspaces(&[target]);
    }
    // A schedule of the right shape that cron cannot use (minute 61).
    objects += trigger(sales, "broken")
        .workflow("plan")
        .schedule("61 * * * *");
    objects += workflow_run(sales, "nothing").workflow("does-not-exist");
    apply(&admin, &objects).await.expect("objects");

    let expect = [
        ("good", "Current"),
        ("waits", "InProgress"),
        ("bad", "Failed"),
    ];
    for (name, want) in expect {
        eventually(&format!("share {name} is {want}"), WAIT, || async {
            (status_of::<WorkflowShare>(&admin, sales, name).await? == want).then_some(())
        })
        .await;
    }
    eventually("an unusable schedule is Failed", WAIT, || async {
        (status_of::<Trigger>(&admin, sales, "broken").await? == "Failed").then_some(())
    })
    .await;
    eventually("a rejected run is Failed", WAIT, || async {
        (status_of::<WorkflowRun>(&admin, sales, "nothing").await? == "Failed").then_some(())
    })
    .await;

    // A new generation reads InProgress until the controller has seen it, then Current.
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    let edited = shares
        .patch(
            "good",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"entireOrganization": true}})),
        )
        .await
        .expect("edit");
    let seen = serde_json::to_value(&edited).expect("json");
    if seen["status"]["observedGeneration"] != seen["metadata"]["generation"] {
        assert_eq!(kstatus(&seen), "InProgress", "right after the edit");
    }
    eventually("Current again", WAIT, || async {
        let obj = serde_json::to_value(shares.get("good").await.ok()?).ok()?;
        (kstatus(&obj) == "Current").then_some(())
    })
    .await;
}
