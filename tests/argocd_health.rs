//! The Argo CD health checks in charts/workflow-share/argocd/, in Argo CD's layout
//! (health.lua, health_test.yaml, testdata/), run on a Lua 5.1 interpreter as Argo CD
//! runs them (gopher-lua is a Lua 5.1): first their own test cases, then on objects
//! the controller really wrote on the local control plane.

mod support;

use std::path::{Path, PathBuf};

use kube::api::{Api, Patch, PatchParams};
use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaSerdeExt, Table};
use serde::Deserialize;
use serde_json::json;
use support::*;

fn checks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/workflow-share/argocd/sharing.workflows.dev")
}

/// Runs `kind`'s health.lua on `obj` and returns (status, message).
fn health(kind: &str, obj: &serde_json::Value) -> (String, String) {
    let script = std::fs::read_to_string(checks_dir().join(kind).join("health.lua"))
        .unwrap_or_else(|e| panic!("{kind}/health.lua: {e}"));
    let lua = Lua::new();
    let options = SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false)
        .set_array_metatable(false);
    let value = lua.to_value_with(obj, options).expect("object as Lua");
    lua.globals().set("obj", value).expect("set obj");
    let result: Table = lua
        .load(&script)
        .set_name(format!("{kind}/health.lua"))
        .eval()
        .unwrap_or_else(|e| panic!("{kind}/health.lua failed: {e}"));
    (
        result.get("status").expect("status"),
        result.get("message").expect("message"),
    )
}

#[derive(Deserialize)]
struct HealthTests {
    tests: Vec<HealthTest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthTest {
    health_status: Expected,
    input_path: String,
}

#[derive(Deserialize)]
struct Expected {
    status: String,
    message: String,
}

const KINDS: [&str; 10] = [
    "Organization",
    "Workflow",
    "WorkflowShare",
    "SharedWorkflow",
    "WorkflowClone",
    "Project",
    "ProjectShare",
    "Trigger",
    "TriggerShare",
    "WorkflowRun",
];

#[test]
fn every_kind_has_a_health_check_whose_test_cases_pass() {
    let mut ran = 0;
    for kind in KINDS {
        let dir = checks_dir().join(kind);
        let tests: HealthTests = serde_yaml::from_str(
            &std::fs::read_to_string(dir.join("health_test.yaml"))
                .unwrap_or_else(|e| panic!("{kind}/health_test.yaml: {e}")),
        )
        .expect("health_test.yaml");
        assert!(!tests.tests.is_empty(), "{kind} has test cases");
        for case in tests.tests {
            let obj: serde_json::Value = serde_yaml::from_str(
                &std::fs::read_to_string(dir.join(&case.input_path)).expect("testdata"),
            )
            .expect("testdata YAML");
            let (status, message) = health(kind, &obj);
            assert_eq!(
                (status.as_str(), message.as_str()),
                (
                    case.health_status.status.as_str(),
                    case.health_status.message.as_str()
                ),
                "{kind} {}",
                case.input_path
            );
            ran += 1;
        }
    }
    assert!(ran >= 25, "{ran} cases");
}

#[tokio::test]
async fn health_follows_what_the_controller_writes() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("ah-sales", "ah-support");
    let objects = organization("ah-org", &[sales, support])
        .and(workflow(sales, "plan"))
        .and(
            share(sales, "plan")
                .workflow("plan")
                .to_workspaces(&["ah-support", "ah-nowhere"]),
        );
    apply(&admin, &objects).await.expect("share");
    let shares: Api<workflow_share::resources::WorkflowShare> =
        Api::namespaced(admin.clone(), sales);
    let live = |name: &'static str| {
        let shares = shares.clone();
        async move { serde_json::to_value(shares.get(name).await.ok()?).ok() }
    };
    // A namespace that does not exist yet: Progressing, not Degraded.
    eventually("pending target", WAIT, || async {
        let (status, message) = health("WorkflowShare", &live("plan").await?);
        (status == "Progressing" && message.starts_with("TargetsPending")).then_some(())
    })
    .await;
    apply(&admin, &organization("ah-org", &["ah-nowhere"]))
        .await
        .expect("namespace appears");
    eventually("healthy", WAIT, || async {
        let (status, _) = health("WorkflowShare", &live("plan").await?);
        (status == "Healthy").then_some(())
    })
    .await;
    let workflows: Api<workflow_share::resources::Workflow> = Api::namespaced(admin.clone(), sales);
    workflows
        .patch(
            "plan",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"archived": true}})),
        )
        .await
        .expect("archive");
    eventually("suspended", WAIT, || async {
        let (share, _) = health("WorkflowShare", &live("plan").await?);
        let wf = serde_json::to_value(workflows.get("plan").await.ok()?).ok()?;
        let (workflow, _) = health("Workflow", &wf);
        (share == "Suspended" && workflow == "Suspended").then_some(())
    })
    .await;
}
