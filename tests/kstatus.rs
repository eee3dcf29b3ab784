//! kstatus — how Flux, `kubectl wait` and cli-utils judge a custom resource — on
//! objects the controller really wrote. The rules, in kstatus's documented order:
//! being deleted → Terminating; status.observedGeneration behind metadata.generation
//! → InProgress; Reconciling=True → InProgress; Stalled=True → Failed; Ready=True →
//! Current; otherwise InProgress.

mod support;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use support::*;

fn kstatus(obj: &Value) -> &'static str {
    if !obj["metadata"]["deletionTimestamp"].is_null() {
        return "Terminating";
    }
    let generation = obj["metadata"]["generation"].as_i64();
    let observed = obj["status"]["observedGeneration"].as_i64();
    if generation.is_some() && observed != generation {
        return "InProgress";
    }
    let condition = |t: &str| {
        obj["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == t))
            .and_then(|c| c["status"].as_str())
            .unwrap_or("")
            .to_string()
    };
    if condition("Reconciling") == "True" {
        "InProgress"
    } else if condition("Stalled") == "True" {
        "Failed"
    } else if condition("Ready") == "True" {
        "Current"
    } else {
        "InProgress"
    }
}

async fn status_of<K: kube::Resource<DynamicType = ()>>(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Option<&'static str> {
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
    let mut yaml = organization_yaml("ks-org", &[sales, support]);
    yaml += &organization_yaml("ks-other", &["ks-elsewhere"]);
    yaml += &manifest("Workflow", sales, "plan", "", "  displayName: plan");
    for (name, targets) in [
        ("good", "ks-support"),
        ("waits", "ks-later"),
        ("bad", "ks-elsewhere"),
    ] {
        yaml += &manifest(
            "WorkflowShare",
            sales,
            name,
            "",
            &format!("  workflowRef: {{name: plan}}\n  workspaces: [{targets}]"),
        );
    }
    // A schedule of the right shape that cron cannot use (minute 61).
    yaml += &manifest(
        "Trigger",
        sales,
        "broken",
        "",
        "  type: Schedule\n  workflowRef: {kind: Workflow, name: plan}\n  schedule: {cron: '61 * * * *'}",
    );
    yaml += &manifest(
        "WorkflowRun",
        sales,
        "nothing",
        "",
        "  workflowRef: {kind: Workflow, name: does-not-exist}",
    );
    apply_yaml(&admin, &yaml).await.expect("objects");

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
