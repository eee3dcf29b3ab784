//! The one-node cluster as the in-cluster test drives it: kubectl and helm against
//! it, waits, the Lease holder, logs, and what the node changes on the host.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const NS: &str = "workflow-share-system";

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// What the node changes on the host, as a comparable listing.
pub fn host_state(dir: &Path) -> Vec<String> {
    let mut state = Vec::new();
    let sh = |script: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(script)
            .output()
            .expect("bash");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    for table in ["filter", "nat", "mangle", "raw"] {
        state.push(format!(
            "iptables {table}: {}",
            sh(&format!(
                "iptables -t {table} -S 2>/dev/null | grep -E '^-N ' | sort"
            ))
        ));
    }
    state.push(format!(
        "links: {}",
        sh("ip -o link show | awk -F': ' '{print $2}' | sort")
    ));
    state.push(format!("netns: {}", sh("ls /run/netns 2>/dev/null | sort")));
    state.push(format!(
        "mounts: {}",
        sh(&format!("grep -cF '{}' /proc/self/mounts", dir.display()))
    ));
    state.push(format!(
        "cgroups: {}",
        sh("ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null")
    ));
    state.push(format!(
        "ip_forward: {}",
        sh("cat /proc/sys/net/ipv4/ip_forward")
    ));
    // The reaper that tears the node down should this test die stays until it ends.
    state.push(format!(
        "processes: {}",
        sh(&format!(
            "pgrep -fa '{}' | grep -v -e pgrep -e 'kill -0' | wc -l",
            dir.display()
        ))
    ));
    state
}

pub struct Cluster {
    pub dir: PathBuf,
    pub kubectl: PathBuf,
    pub helm: PathBuf,
}

impl Cluster {
    pub fn kubectl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.kubectl);
        cmd.args(args)
            .env("KUBECONFIG", self.dir.join("kubeconfig"));
        cmd
    }

    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        serde_json::from_slice(&run(&mut self.kubectl(&all)).stdout).expect("json")
    }

    pub fn helm(&self, args: &[&str]) -> Output {
        run(Command::new(&self.helm)
            .args(args)
            .env("KUBECONFIG", self.dir.join("kubeconfig")))
    }

    /// Waits until the Deployment has rolled out (at most `seconds`).
    pub fn rolled_out(&self, seconds: u32) {
        let timeout = format!("--timeout={seconds}s");
        run(&mut self.kubectl(&[
            "rollout",
            "status",
            "deploy/workflow-share",
            "-n",
            NS,
            &timeout,
        ]));
    }

    /// Waits until every share of the examples' owner workspace is Ready.
    pub fn shares_ready(&self) {
        run(&mut self.kubectl(&[
            "wait",
            "--for=condition=Ready",
            "workflowshares",
            "--all",
            "-n",
            "sales",
            "--timeout=60s",
        ]));
    }

    /// The Lease holder's pod name (identity `<pod>_<pid>`), if any.
    pub fn leader(&self) -> Option<String> {
        let lease = self.get_json(&["lease", "workflow-share", "-n", NS]);
        let holder = lease["spec"]["holderIdentity"].as_str()?.to_string();
        holder
            .split('_')
            .next()
            .map(str::to_string)
            .filter(|h| !h.is_empty())
    }

    pub fn pods(&self) -> Vec<String> {
        let pods = self.get_json(&[
            "pods",
            "-n",
            NS,
            "-l",
            "app.kubernetes.io/name=workflow-share",
        ]);
        pods["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    }

    /// Prints the controller pods' logs as the kubelet keeps them, and the
    /// kubelet's own: what a failed step leaves to read (`kubectl logs` needs kubelet
    /// client certificates this node has not).
    pub fn print_logs(&self) {
        let script = format!(
            "for f in $(find {dir}/kubelet/pod-logs -path '*workflow-share*' -name '*.log'); do echo \"== $f\"; tail -n 60 \"$f\"; done; echo '== kubelet'; tail -n 40 {dir}/kubelet.log",
            dir = self.dir.display()
        );
        let out = Command::new("bash").arg("-c").arg(script).output();
        if let Ok(out) = out {
            println!("{}", String::from_utf8_lossy(&out.stdout));
        }
    }

    pub fn until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut() -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?}: {what}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("hack/cluster/down.sh"))
            .arg(&self.dir)
            .status();
    }
}
