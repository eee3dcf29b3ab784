//! The chart as users run it: the image `hack/image.sh` builds, installed with helm
//! on a real one-node cluster (`hack/cluster/up.sh`: kubelet, containerd, runc, CNI,
//! kube-proxy, scheduler and controller-manager), in a namespace that enforces the
//! restricted Pod Security Standard. Needs root (the node changes the host's network,
//! mounts and cgroups); `hack/cluster/down.sh` puts all of it back, which is checked.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use k8s_openapi::api::policy::v1::Eviction;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use support::built_tool;

#[path = "in_cluster/cluster.rs"]
mod cluster;

use cluster::{Cluster, NS, host_state, repo, run, text};

#[test]
fn the_chart_runs_on_a_real_node_elects_hands_over_and_leaves_the_host_as_it_was() {
    assert_eq!(
        text(&run(Command::new("id").arg("-u"))),
        "0",
        "a node needs root (see README, Development)"
    );
    let started = Instant::now();
    let image = run(&mut Command::new(repo().join("hack/image.sh")));
    println!("image: {}", text(&image));
    let helm = built_tool("helm");
    let dir = std::env::temp_dir().join(format!("wsn-{}", std::process::id()));
    let before = host_state(&dir);
    let cluster = start_node(&dir, helm, started);
    let leader = install_the_chart(&cluster);
    the_examples_converge(&cluster);
    metrics_are_served(&cluster);
    a_signed_request_through_the_service_fires_a_trigger(&cluster);
    deleting_the_leader_hands_over(&cluster, &leader);
    evictions_respect_the_budget(&cluster);
    an_upgrade_never_has_two_leaders(&cluster);
    uninstall_leaves_only_what_the_readme_lists(&cluster);

    // The node goes: the host is as it was.
    drop(cluster);
    let after = host_state(&dir);
    assert_eq!(before, after, "the host changed");
    println!("in-cluster test: {:.1?}", started.elapsed());
}

/// The chart's directory in the repository.
fn chart() -> PathBuf {
    repo().join("charts/workflow-share")
}

/// Applies one of the examples as the kubeconfig context (user) `context`.
fn apply_example(cluster: &Cluster, context: &str, file: &str) {
    let examples = repo().join("examples");
    let path = examples.join(file);
    let args = [
        "--context",
        context,
        "apply",
        "--server-side",
        "-f",
        path.to_str().expect("path"),
    ];
    // Right after an install the API server may not serve a new CRD's kind yet (it
    // answers 503 and says so); that, and only that, is waited out.
    let start = Instant::now();
    loop {
        let out = cluster.kubectl(&args).output().expect("kubectl");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let not_served_yet = stderr.contains("ServiceUnavailable")
            && stderr.contains("There can be a delay between when CustomResourceDefinitions");
        if out.status.success() {
            return;
        }
        assert!(
            not_served_yet && start.elapsed() < Duration::from_secs(30),
            "kubectl {} failed:\n{}{stderr}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Brings the node up in `dir` and imports the image: the node becomes Ready.
fn start_node(dir: &Path, helm: PathBuf, started: Instant) -> Cluster {
    run(Command::new(repo().join("hack/cluster/up.sh"))
        // The least-privilege check reads the fast tests' audit logs: this node's
        // controller runs through an uninstall, which takes its rights away mid-work.
        .env_remove("WORKFLOW_SHARE_AUDIT_DIR")
        .arg(dir)
        .arg("--watch-pid")
        .arg(std::process::id().to_string()));
    let cluster = Cluster {
        kubectl: dir.join("kubectl"),
        dir: dir.to_path_buf(),
        helm,
    };
    println!("node Ready after {:.1?}", started.elapsed());
    run(Command::new(dir.join("import")).arg(repo().join("target/image/workflow-share.oci.tar")));
    cluster
}

/// The chart installs with default values under the restricted Pod Security Standard:
/// two Ready replicas, one of which leads (returned).
fn install_the_chart(cluster: &Cluster) -> String {
    // Default values, in a namespace that enforces the restricted Pod Security Standard.
    run(&mut cluster.kubectl(&["create", "namespace", NS]));
    run(&mut cluster.kubectl(&[
        "label",
        "namespace",
        NS,
        "pod-security.kubernetes.io/enforce=restricted",
    ]));
    let chart = chart();
    cluster.helm(&[
        "install",
        "workflow-share",
        chart.to_str().expect("path"),
        "-n",
        NS,
    ]);
    cluster.rolled_out(180);
    let deploy = cluster.get_json(&["deploy", "workflow-share", "-n", NS]);
    assert_eq!(deploy["status"]["readyReplicas"], 2, "{}", deploy["status"]);
    let leader = cluster.until("a replica leads", Duration::from_secs(60), || {
        cluster.leader()
    });
    assert!(
        cluster.pods().contains(&leader),
        "{leader} is not one of the pods"
    );
    leader
}

/// The examples' shares all become Ready through the in-cluster controller.
fn the_examples_converge(cluster: &Cluster) {
    // The examples converge through the in-cluster controller.
    for file in [
        "01-organization.yaml",
        "02-workspaces.yaml",
        "03-members.yaml",
    ] {
        apply_example(cluster, "admin", file);
    }
    apply_example(cluster, "alice", "04-workflows.yaml");
    apply_example(cluster, "alice", "05-shares.yaml");
    cluster.shares_ready();
}

/// The metrics Service serves the controller's series.
fn metrics_are_served(cluster: &Cluster) {
    // /metrics through the metrics Service (the API server's service proxy).
    let metrics = run(&mut cluster.kubectl(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/{NS}/services/workflow-share-metrics:metrics/proxy/metrics"),
    ]));
    assert!(
        text(&metrics).contains("workflow_share_"),
        "no controller series in /metrics"
    );
}

/// The receiver's Service, reached from the node like an Ingress controller would
/// reach it, fires alice's webhook trigger as alice; each replica answers.
fn a_signed_request_through_the_service_fires_a_trigger(cluster: &Cluster) {
    apply_example(cluster, "admin", "12-webhook-token.yaml");
    apply_example(cluster, "alice", "13-webhook.yaml");
    let trigger = "lead-qualification-on-push";
    let path = cluster.until("the trigger listens", Duration::from_secs(60), || {
        let t = cluster.get_json(&["trigger", trigger, "-n", "sales"]);
        let ready = t["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Ready")?
            .clone();
        (ready["reason"] == "Listening")
            .then(|| t["status"]["webhookPath"].as_str().map(str::to_string))?
    });
    let service = cluster.get_json(&["service", "workflow-share-webhooks", "-n", NS]);
    let ip = service["spec"]["clusterIP"]
        .as_str()
        .expect("cluster IP")
        .to_string();
    let body = br#"{"ref":"refs/heads/main"}"#;
    let signature =
        workflow_share::planner::webhook::sign(b"replace-me-with-openssl-rand-hex-32", body);
    let mut runs = std::collections::BTreeSet::new();
    // kube-proxy balances over both replicas: a few deliveries reach each.
    for delivery in 0..6 {
        let id = format!("in-cluster-{delivery}");
        let headers = [
            ("X-Hub-Signature-256", signature.as_str()),
            ("X-GitHub-Delivery", id.as_str()),
        ];
        let (code, answer) = support::http_post_to(&format!("{ip}:80"), &path, &headers, body);
        assert_eq!(code, 201, "{answer}");
        let answer: Value = serde_json::from_str(&answer).expect("json");
        runs.insert(answer["run"].as_str().expect("run").to_string());
    }
    assert_eq!(runs.len(), 6);
    for run in &runs {
        let run = cluster.get_json(&["workflowrun", run, "-n", "sales"]);
        assert_eq!(run["spec"]["runAs"], "alice", "{run}");
        assert_eq!(run["spec"]["triggerRef"], trigger);
    }
    let (code, _) = support::http_post_to(&format!("{ip}:80"), &path, &[], body);
    assert_eq!(code, 401, "unsigned");
}

/// Deleting the leader's pod releases the Lease at once (clean exit), the other
/// replica leads, and a share made meanwhile is granted quickly.
fn deleting_the_leader_hands_over(cluster: &Cluster, leader: &str) {
    // The leader's pod is deleted (SIGTERM): it releases the Lease, the other leads,
    // and a share made meanwhile is granted once, notified once.
    let holder = || {
        let lease = cluster.get_json(&["lease", "workflow-share", "-n", NS]);
        lease["spec"]["holderIdentity"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    // Read before the delete: the standby may take the Lease within milliseconds.
    let was = holder();
    let deleted = Instant::now();
    run(&mut cluster.kubectl(&["delete", "pod", leader, "-n", NS, "--wait=false"]));
    apply_example(cluster, "bob", "07-private-workflow.yaml");
    apply_example(cluster, "bob", "08-people-share.yaml");
    let start = Instant::now();
    while holder() == was {
        if start.elapsed() > Duration::from_secs(30) {
            cluster.print_logs();
            panic!("timed out after 30s: the Lease released");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let released = deleted.elapsed();
    // The old pod's container, as the kubelet last reported it before the pod went.
    let exit_code = cluster.until("the old pod gone", Duration::from_secs(60), || {
        let out = cluster
            .kubectl(&["get", "pod", leader, "-n", NS, "-o", "json"])
            .output()
            .expect("kubectl");
        if !out.status.success() {
            return Some(None);
        }
        let pod: Value = serde_json::from_slice(&out.stdout).ok()?;
        pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]
            .as_i64()
            .map(Some)
    });
    let next = cluster.until("the other replica leads", Duration::from_secs(60), || {
        cluster.leader().filter(|l| *l != leader)
    });
    let handover = deleted.elapsed();
    cluster.shares_ready();
    let granted = deleted.elapsed();
    println!(
        "leader pod {leader} deleted: Lease released after {released:.1?}, exit code {}, {next} leads after {handover:.1?}, the share made meanwhile granted after {granted:.1?}",
        exit_code.map_or("not seen (pod gone first)".to_string(), |c| c.to_string())
    );
    assert!(
        released < Duration::from_secs(5),
        "SIGTERM did not release the Lease: {released:?}"
    );
    if let Some(code) = exit_code {
        assert_eq!(code, 0, "the leader did not exit cleanly on SIGTERM");
    }
    // The standby watches the Lease and takes it once released, well before the 15 s
    // lease duration would run out.
    assert!(
        handover < Duration::from_secs(10),
        "hand-over took {handover:?}"
    );
    assert!(
        granted < Duration::from_secs(15),
        "granted after {granted:?}"
    );
}

/// Asks the API server to evict `pod`: kubectl's output, successful or not.
fn evict(cluster: &Cluster, pod: &str) -> Output {
    let eviction = Eviction {
        metadata: ObjectMeta {
            name: Some(pod.into()),
            namespace: Some(NS.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let body = serde_json::to_string(&eviction).expect("json");
    let path = cluster.dir.join(format!("eviction-{pod}.json"));
    std::fs::write(&path, body).expect("write");
    cluster
        .kubectl(&[
            "create",
            "--raw",
            &format!("/api/v1/namespaces/{NS}/pods/{pod}/eviction"),
            "-f",
            path.to_str().expect("path"),
        ])
        .output()
        .expect("kubectl")
}

/// Evicting the leader hands over quickly; a second eviction meanwhile is refused by
/// the PodDisruptionBudget.
fn evictions_respect_the_budget(cluster: &Cluster) {
    // Evictions respect the PodDisruptionBudget: one at a time.
    cluster.rolled_out(120);
    let pods = cluster.pods();
    assert_eq!(pods.len(), 2, "{pods:?}");
    cluster.until(
        "the budget allows one disruption",
        Duration::from_secs(60),
        || {
            let pdb = cluster.get_json(&["pdb", "workflow-share", "-n", NS]);
            (pdb["status"]["disruptionsAllowed"] == 1).then_some(())
        },
    );
    // The leader is evicted first: the other replica takes over.
    let leading = cluster.until("a leader", Duration::from_secs(60), || cluster.leader());
    let other = pods
        .iter()
        .find(|p| **p != leading)
        .expect("a second pod")
        .clone();
    let evicted = Instant::now();
    let first = evict(cluster, &leading);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = evict(cluster, &other);
    assert!(
        !second.status.success()
            && String::from_utf8_lossy(&second.stderr).contains("disruption budget"),
        "second eviction: {}",
        String::from_utf8_lossy(&second.stderr)
    );
    let successor = cluster.until(
        "a leader after the eviction",
        Duration::from_secs(60),
        || cluster.leader().filter(|l| *l != leading),
    );
    let taken = evicted.elapsed();
    cluster.rolled_out(120);
    println!(
        "leader pod {leading} evicted (the second eviction refused): {successor} leads after {taken:.1?}, two Ready replicas again after {:.1?}",
        evicted.elapsed()
    );
    assert!(taken < Duration::from_secs(10), "hand-over took {taken:?}");
}

/// An upgrade that changes a value rolls out with at most one leader at any sample.
fn an_upgrade_never_has_two_leaders(cluster: &Cluster) {
    // An upgrade that changes a value rolls the pods, never with two leaders at once.
    let chart = chart();
    cluster.helm(&[
        "upgrade",
        "workflow-share",
        chart.to_str().expect("path"),
        "-n",
        NS,
        "--set",
        "maxRequestsInFlight=32",
    ]);
    let rolling = Instant::now();
    let (mut most_leaders, mut samples) = (0, 0);
    loop {
        let leaders = cluster
            .pods()
            .iter()
            .filter(|pod| {
                let path = format!("/api/v1/namespaces/{NS}/pods/{pod}:8080/proxy/metrics");
                let out = cluster
                    .kubectl(&["get", "--raw", &path])
                    .output()
                    .expect("kubectl");
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .any(|l| l.starts_with("workflow_share_leader ") && l.ends_with(" 1"))
            })
            .count();
        most_leaders = most_leaders.max(leaders);
        samples += 1;
        let deploy = cluster.get_json(&["deploy", "workflow-share", "-n", NS]);
        let status = &deploy["status"];
        let all_pods = cluster.get_json(&["pods", "-n", NS]);
        let done = deploy["metadata"]["generation"] == status["observedGeneration"]
            && status["updatedReplicas"] == 2
            && status["readyReplicas"] == 2
            && status["replicas"] == 2
            && all_pods["items"].as_array().is_some_and(|p| p.len() == 2);
        if done && samples > 1 {
            break;
        }
        assert!(
            rolling.elapsed() < Duration::from_secs(180),
            "the upgrade did not roll out"
        );
    }
    println!(
        "upgrade rolled out in {:.1?}; at most {most_leaders} leader in {samples} samples",
        rolling.elapsed()
    );
    assert!(most_leaders <= 1, "{most_leaders} replicas led at once");
}

/// After uninstall, nothing of the chart's own is left: only the CRDs and their
/// objects, the controller's grants and its Lease.
fn uninstall_leaves_only_what_the_readme_lists(cluster: &Cluster) {
    // Uninstall: what stays is what the README lists (the CRDs and their objects, the
    // grants the controller made, its Lease), nothing of the chart's own.
    cluster.helm(&["uninstall", "workflow-share", "-n", NS, "--wait"]);
    run(&mut cluster.kubectl(&[
        "wait",
        "--for=delete",
        "pods",
        "--all",
        "-n",
        NS,
        "--timeout=60s",
    ]));
    let named_ours = |o: &&Value| {
        o["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("workflow-share"))
    };
    for kind in [
        "clusterroles",
        "clusterrolebindings",
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicybindings",
    ] {
        let list = cluster.get_json(&[kind]);
        let left: Vec<&Value> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(named_ours)
            .collect();
        assert!(left.is_empty(), "{kind} left by the chart: {left:?}");
    }
    for kind in ["roles", "rolebindings"] {
        let list = cluster.get_json(&[kind, "-A"]);
        let unlisted: Vec<&Value> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(named_ours)
            .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/managed-by"] != "workflow-share")
            .collect();
        assert!(
            unlisted.is_empty(),
            "{kind} left that are not the controller's grants: {unlisted:?}"
        );
    }
    let system = cluster.get_json(&["all,leases,serviceaccounts,configmaps,secrets", "-n", NS]);
    let kept: Vec<String> = system["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .filter(|o| {
            ![
                "Lease/workflow-share",
                "ServiceAccount/default",
                "ConfigMap/kube-root-ca.crt",
            ]
            .contains(&o.as_str())
        })
        .collect();
    assert!(kept.is_empty(), "left in {NS}: {kept:?}");
}
