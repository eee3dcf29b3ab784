//! The Helm chart, with a real helm (built from its Go module by hack/helm/build.sh):
//! it lints strictly, every rendered object is accepted by the real API server
//! (server-side dry run), its values schema refuses unknown and mistyped values, and
//! the Deployment runs restricted. The controller in every other test runs with the
//! RBAC this chart installs (hack/install-local.sh installs it with helm). The webhook
//! receiver is served, exposed and granted its Secret reads only while
//! webhooks.enabled.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
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
        assert_refused(&args, refusal);
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
    let out = render(&[
        "--set",
        "replicas=2",
        "--set",
        "webhooks.ingress.enabled=true",
        "--set",
        "webhooks.ingress.host=hooks.example.com",
        "--set",
        "webhooks.ingress.className=nginx",
        "--set-json",
        r#"webhooks.ingress.tls=[{"secretName": "hooks-tls", "hosts": ["hooks.example.com"]}]"#,
    ]);
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
    for webhooks in [
        "service/workflow-share-webhooks serverside-applied (server dry run)",
        "ingress.networking.k8s.io/workflow-share-webhooks serverside-applied (server dry run)",
    ] {
        assert!(stdout.contains(webhooks), "{stdout}");
    }
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

/// The objects `helm template` renders with these values (it must succeed).
fn objects(args: &[&str]) -> Vec<Value> {
    let out = render(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8_lossy(&out.stdout);
    rendered
        .split("\n---")
        .filter_map(|doc| serde_yaml::from_str::<Value>(doc).ok())
        .filter(|obj| obj["kind"].is_string())
        .collect()
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|obj| obj["kind"] == kind && obj["metadata"]["name"] == name)
}

/// The controller's container in the rendered Deployment.
fn controller(objects: &[Value]) -> &Value {
    let deployment = object(objects, "Deployment", "workflow-share").expect("the Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "controller");
    container
}

/// The value of an environment variable of the controller's container.
fn env<'a>(objects: &'a [Value], name: &str) -> Option<&'a Value> {
    controller(objects)["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|var| var["name"] == name)
        .map(|var| &var["value"])
}

/// Every verb the controller's ClusterRole grants on core Secrets, wildcards included.
fn secret_verbs(objects: &[Value]) -> BTreeSet<String> {
    let role = object(objects, "ClusterRole", "workflow-share-controller")
        .expect("the controller's ClusterRole");
    let mut verbs = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        let lists = |field: &str, wanted: &str| {
            rule[field]
                .as_array()
                .is_some_and(|items| items.iter().any(|item| item == wanted || item == "*"))
        };
        if lists("apiGroups", "") && lists("resources", "secrets") {
            assert!(rule["resourceNames"].is_null(), "{rule}");
            for verb in rule["verbs"].as_array().expect("verbs") {
                verbs.insert(verb.as_str().expect("a verb").to_owned());
            }
        }
    }
    verbs
}

#[test]
fn by_default_every_replica_serves_the_webhook_receiver_and_reads_only_secrets_lists() {
    let objs = objects(&[]);

    let service =
        object(&objs, "Service", "workflow-share-webhooks").expect("the webhooks Service");
    assert_eq!(service["metadata"]["namespace"], "workflow-share-system");
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "webhooks", "port": 80, "targetPort": "webhooks"}])
    );
    let metrics = object(&objs, "Service", "workflow-share-metrics").expect("the metrics Service");
    assert_eq!(service["spec"]["selector"], metrics["spec"]["selector"]);
    assert_eq!(service["metadata"]["labels"], metrics["metadata"]["labels"]);
    assert!(object(&objs, "Ingress", "workflow-share-webhooks").is_none());

    assert_eq!(
        env(&objs, "WEBHOOK_ADDR").expect("WEBHOOK_ADDR"),
        "0.0.0.0:8081"
    );
    let ports = controller(&objs)["ports"].as_array().expect("ports");
    assert!(
        ports.contains(&json!({"name": "webhooks", "containerPort": 8081})),
        "{ports:?}"
    );

    // The whole grant on Secrets: list and watch, no get, no write.
    assert_eq!(
        secret_verbs(&objs),
        BTreeSet::from(["list".to_owned(), "watch".to_owned()])
    );

    // Other ports and Service types are passed through.
    let objs = objects(&[
        "--set",
        "webhooks.port=9000",
        "--set",
        "webhooks.service.port=8000",
        "--set",
        "webhooks.service.type=NodePort",
    ]);
    let service =
        object(&objs, "Service", "workflow-share-webhooks").expect("the webhooks Service");
    assert_eq!(service["spec"]["type"], "NodePort");
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "webhooks", "port": 8000, "targetPort": "webhooks"}])
    );
    assert_eq!(
        env(&objs, "WEBHOOK_ADDR").expect("WEBHOOK_ADDR"),
        "0.0.0.0:9000"
    );
    let ports = controller(&objs)["ports"].as_array().expect("ports");
    assert!(ports.contains(&json!({"name": "webhooks", "containerPort": 9000})));
}

#[test]
fn webhooks_disabled_serve_nothing_and_grant_no_secrets() {
    let objs = objects(&[
        "--set",
        "webhooks.enabled=false",
        "--set",
        "webhooks.ingress.enabled=true",
        "--set",
        "webhooks.ingress.host=hooks.example.com",
    ]);
    assert!(object(&objs, "Service", "workflow-share-webhooks").is_none());
    assert!(object(&objs, "Ingress", "workflow-share-webhooks").is_none());
    assert!(env(&objs, "WEBHOOK_ADDR").is_none());
    let ports = controller(&objs)["ports"].as_array().expect("ports");
    assert_eq!(ports, &[json!({"name": "metrics", "containerPort": 8080})]);
    assert_eq!(secret_verbs(&objs), BTreeSet::new());

    // Without the Deployment (a controller run elsewhere), the ClusterRole follows
    // webhooks.enabled alone.
    let elsewhere = objects(&["--set", "deploy=false"]);
    assert!(object(&elsewhere, "Deployment", "workflow-share").is_none());
    assert!(object(&elsewhere, "Service", "workflow-share-webhooks").is_none());
    assert_eq!(
        secret_verbs(&elsewhere),
        BTreeSet::from(["list".to_owned(), "watch".to_owned()])
    );
    let elsewhere = objects(&["--set", "deploy=false", "--set", "webhooks.enabled=false"]);
    assert_eq!(secret_verbs(&elsewhere), BTreeSet::new());
}

#[test]
fn the_webhooks_ingress_routes_only_hooks_to_the_receiver() {
    let objs = objects(&[
        "--set",
        "webhooks.ingress.enabled=true",
        "--set",
        "webhooks.ingress.host=hooks.example.com",
        "--set",
        "webhooks.ingress.className=nginx",
        "--set-json",
        r#"webhooks.ingress.annotations={"cert-manager.io/cluster-issuer": "letsencrypt"}"#,
        "--set-json",
        r#"webhooks.ingress.tls=[{"secretName": "hooks-tls", "hosts": ["hooks.example.com"]}]"#,
    ]);
    let ingress = object(&objs, "Ingress", "workflow-share-webhooks").expect("the Ingress");
    assert_eq!(ingress["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(ingress["metadata"]["namespace"], "workflow-share-system");
    assert_eq!(
        ingress["metadata"]["annotations"],
        json!({"cert-manager.io/cluster-issuer": "letsencrypt"})
    );
    assert_eq!(ingress["spec"]["ingressClassName"], "nginx");
    assert_eq!(
        ingress["spec"]["tls"],
        json!([{"secretName": "hooks-tls", "hosts": ["hooks.example.com"]}])
    );
    assert_eq!(
        ingress["spec"]["rules"],
        json!([{
            "host": "hooks.example.com",
            "http": {"paths": [{
                "path": "/hooks/",
                "pathType": "Prefix",
                "backend": {"service": {"name": "workflow-share-webhooks", "port": {"name": "webhooks"}}}
            }]}
        }])
    );
    // The backend is the Service rendered beside it, whose port has that name.
    let service =
        object(&objs, "Service", "workflow-share-webhooks").expect("the webhooks Service");
    assert_eq!(service["spec"]["ports"][0]["name"], "webhooks");

    // Nothing optional is rendered empty.
    let objs = objects(&[
        "--set",
        "webhooks.ingress.enabled=true",
        "--set",
        "webhooks.ingress.host=hooks.example.com",
    ]);
    let ingress = object(&objs, "Ingress", "workflow-share-webhooks").expect("the Ingress");
    assert!(ingress["metadata"]["annotations"].is_null(), "{ingress}");
    assert!(ingress["spec"]["ingressClassName"].is_null(), "{ingress}");
    assert!(ingress["spec"]["tls"].is_null(), "{ingress}");
}

#[test]
fn webhooks_values_are_checked() {
    for (args, refusal) in [
        // An Ingress needs its host: the schema says so, and so does the template
        // when the schema is skipped.
        (
            vec!["--set", "webhooks.ingress.enabled=true"],
            "/webhooks/ingress/host",
        ),
        (
            vec![
                "--set",
                "webhooks.ingress.enabled=true",
                "--skip-schema-validation",
            ],
            "webhooks.ingress.host is required",
        ),
        (vec!["--set", "webhooks.port=0"], "/webhooks/port"),
        (vec!["--set", "webhooks.port=65536"], "/webhooks/port"),
        (
            vec!["--set", "webhooks.service.type=ExternalName"],
            "/webhooks/service/type",
        ),
        (
            vec!["--set", "webhooks.ingress.host=1"],
            "/webhooks/ingress/host",
        ),
        (
            vec!["--set", "webhooks.path=/hooks"],
            "additional properties 'path' not allowed",
        ),
        (
            vec![
                "--set-json",
                r#"webhooks.ingress.tls=[{"secret": "hooks-tls"}]"#,
            ],
            "additional properties 'secret' not allowed",
        ),
        (
            vec![
                "--set-json",
                r#"webhooks.ingress.tls=[{"hosts": "hooks.example.com"}]"#,
            ],
            "/webhooks/ingress/tls/0/hosts",
        ),
        (
            vec!["--set", "webhooks.port=8080"],
            "webhooks.port and metrics.port must differ",
        ),
    ] {
        assert_refused(&args, refusal);
    }
}

/// Rendering with `args` fails, and the error says `refusal`.
fn assert_refused(args: &[&str], refusal: &str) {
    let out = render(args);
    assert!(!out.status.success(), "{args:?} accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(refusal), "{args:?}: {err}");
}
