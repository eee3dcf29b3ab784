//! `workflow-share diff` against the real API server: what a share change would
//! grant, keep and remove, with kubectl diff's exit codes.

mod support;

use std::process::Command;

use support::*;
use workflow_share::resources::WorkflowShare;

fn diff(
    cp: &ControlPlane,
    context: &str,
    file: &std::path::Path,
    json: bool,
) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_workflow-share"));
    cmd.args(["diff", "-f"])
        .arg(file)
        .args(["--context", context])
        .env("KUBECONFIG", cp.dir.join("kubeconfig"));
    if json {
        cmd.args(["-o", "json"]);
    }
    let out = cmd.output().expect("run workflow-share diff");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn forecast_to(workspace: &str, users: &[&str]) -> Builder<WorkflowShare> {
    share("df-sales", "forecast")
        .workflow("forecast")
        .to_workspaces(&[workspace])
        .to_users(users)
}

#[tokio::test]
async fn diff_shows_what_a_share_change_grants_keeps_and_removes() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let objects = organization("df-org", &["df-sales", "df-support", "df-finance"])
        .and(member("df-support", "member", "dave"))
        .and(member("df-finance", "member", "Zoë"))
        .and(workflow("df-sales", "forecast").display_name("Forecast"))
        .and(forecast_to("df-support", &["Zoë"]));
    apply(&admin, &objects).await.expect("live share");
    eventually("granted", WAIT, || async {
        entry_exists(&admin, "df-support", "df-sales.forecast")
            .await
            .then_some(())
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("share.yaml");

    // Moving the share from support to finance and dropping Zoë.
    std::fs::write(&file, to_yaml(&forecast_to("df-finance", &[]))).expect("write");
    let (code, out, err) = diff(cp, "admin", &file, false);
    assert_eq!(code, 1, "changes: {out}{err}");
    assert!(
        out.contains("WorkflowShare df-sales/forecast (workflow df-sales/forecast):"),
        "{out}"
    );
    assert!(out.contains("+ df-finance"), "{out}");
    assert!(
        out.contains("- df-support")
            && out.contains(
                "WILL BE REMOVED (SharedWorkflow df-support/df-sales.forecast will be deleted)"
            ),
        "{out}"
    );
    assert!(out.contains("- User:Zoë"), "{out}");
    let (code, out, _) = diff(cp, "admin", &file, true);
    assert_eq!(code, 1);
    let lines: serde_json::Value = serde_json::from_str(&out).expect("json");
    let removed: Vec<&str> = lines
        .as_array()
        .expect("array")
        .iter()
        .filter(|l| l["change"] == "Remove")
        .filter_map(|l| l["recipient"].as_str())
        .collect();
    assert_eq!(removed, ["User:Zoë", "df-support"]);
    assert!(
        entry_exists(&admin, "df-support", "df-sales.forecast").await,
        "diff changes nothing"
    );

    // The same as live: nothing changes.
    std::fs::write(&file, to_yaml(&forecast_to("df-support", &["Zoë"]))).expect("write");
    let (code, out, _) = diff(cp, "admin", &file, false);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("= df-support") && !out.contains("WILL BE REMOVED"),
        "{out}"
    );

    // Errors are 2: a missing file, or a context that may not read the cluster.
    let (code, _, err) = diff(cp, "admin", &dir.path().join("nope.yaml"), false);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = diff(cp, "dave", &file, false);
    assert_eq!(code, 2);
    assert!(
        err.contains("run it with a context that may read them"),
        "{err}"
    );
}
