//! The Helm chart, with a real helm (built from its Go module by hack/helm/build.sh):
//! it lints strictly, every rendered object is accepted by the real API server
//! (server-side dry run), its values schema refuses unknown and mistyped values, and
//! the Deployment runs restricted. The controller in every other test runs with the
//! RBAC this chart installs (hack/install-local.sh installs it with helm).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::*;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn helm() -> PathBuf {
    built_tool("helm")
}

fn render(args: &[&str]) -> Output {
    Command::new(helm())
        .args(["template", "workflow-share"])
        .arg(repo().join("charts/workflow-share"))
        .args(["--namespace", "workflow-share-system"])
        .args(args)
        .output()
        .expect("helm template")
}

#[test]
fn the_chart_lints_strictly_and_its_schema_refuses_bad_values() {
    let lint = Command::new(helm())
        .args(["lint", "--strict"])
        .arg(repo().join("charts/workflow-share"))
        .output()
        .expect("helm lint");
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stdout)
    );

    for (args, refusal) in [
        (
            vec!["--set", "replica=3"],
            "additional properties 'replica' not allowed",
        ),
        (vec!["--set", "replicas=many"], "/replicas"),
        (
            vec!["--set", "image.pullPolicy=Sometimes"],
            "/image/pullPolicy",
        ),
        (
            vec!["--set", "metrics.serviceMonitor.interval=soon"],
            "/metrics/serviceMonitor/interval",
        ),
    ] {
        let out = render(&args);
        assert!(!out.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(refusal), "{args:?}: {err}");
    }

    let out = render(&[
        "--set",
        "replicas=2",
        "--set",
        "metrics.serviceMonitor.enabled=true",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for wanted in [
        "kind: Deployment",
        "kind: PodDisruptionBudget",
        "kind: ServiceMonitor",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "drop: [ALL]",
        "seccompProfile: { type: RuntimeDefault }",
        "path: /healthz",
        "path: /readyz",
        "fieldPath: metadata.namespace",
    ] {
        assert!(text.contains(wanted), "rendered chart lacks {wanted}");
    }
    let single = render(&["--set", "replicas=1"]);
    assert!(!String::from_utf8_lossy(&single.stdout).contains("kind: PodDisruptionBudget"));
}

#[tokio::test]
async fn every_rendered_object_is_accepted_by_the_api_server() {
    let cp = control_plane();
    let out = render(&["--set", "replicas=2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut apply = Command::new(cp.dir.join("kubectl"))
        .args([
            "apply",
            "--server-side",
            "--force-conflicts",
            "--dry-run=server",
            "-f",
            "-",
        ])
        .env("KUBECONFIG", cp.dir.join("kubeconfig"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    apply
        .stdin
        .take()
        .expect("stdin")
        .write_all(&out.stdout)
        .expect("write");
    let result = apply.wait_with_output().expect("kubectl apply");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        stdout.contains("deployment.apps/workflow-share serverside-applied (server dry run)"),
        "{stdout}"
    );
    assert!(stdout.contains(
        "validatingadmissionpolicy.admissionregistration.k8s.io/workflow-share-creator-edits"
    ));
}

#[test]
fn the_default_image_is_the_one_hack_image_sh_builds() {
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    let version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("the package version");
    let out = render(&[]);
    let yaml = String::from_utf8_lossy(&out.stdout);
    let expected = format!("image: \"ghcr.io/workflow-share/workflow-share:{version}\"");
    assert!(
        yaml.contains(&expected),
        "{expected} not in the rendered chart"
    );
}
