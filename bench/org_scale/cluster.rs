//! The local control plane (hack/controlplane) and the controller process under test.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::measures::{cpu_seconds, rss_mb};
use crate::support::{free_port, leads, metric_at};
use crate::{Res, repo, run};

pub struct Cluster {
    pub dir: PathBuf,
    pub admin: Client,
}

impl Cluster {
    pub async fn up(name: &str) -> Res<Cluster> {
        let dir = std::env::temp_dir().join(format!(
            "workflow-share-bench-{}-{name}",
            std::process::id()
        ));
        run(Command::new(repo().join("hack/controlplane/up.sh"))
            .arg(&dir)
            .arg("--watch-pid")
            .arg(std::process::id().to_string())
            // No audit log: it would tax the controller's requests only.
            .env_remove("WORKFLOW_SHARE_AUDIT_DIR"))?;
        run(Command::new(repo().join("hack/install-local.sh")).arg(&dir))?;
        let kubeconfig = Kubeconfig::read_from(dir.join("kubeconfig"))?;
        let mut config = Config::from_custom_kubeconfig(
            kubeconfig,
            &KubeConfigOptions {
                context: Some("admin".into()),
                ..Default::default()
            },
        )
        .await?;
        // The bulk client must not be throttled by its own connection handling.
        config.read_timeout = Some(Duration::from_secs(120));
        let admin = Client::try_from(config)?;
        Ok(Cluster { dir, admin })
    }

    /// A client with the controller's credentials (its ServiceAccount).
    pub async fn controller_client(&self) -> Res<Client> {
        let kubeconfig = Kubeconfig::read_from(self.dir.join("controller.kubeconfig"))?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }

    /// CPU seconds used so far by the API server and etcd together: the side both
    /// the raw bound and the controller load.
    pub fn server_cpu_seconds(&self) -> f64 {
        ["apiserver", "etcd"]
            .iter()
            .filter_map(|c| std::fs::read_to_string(self.dir.join(format!("{c}.pid"))).ok())
            .filter_map(|pid| pid.trim().parse::<u32>().ok())
            .map(cpu_seconds)
            .sum()
    }

    pub fn down(&self) {
        let _ = Command::new(repo().join("hack/controlplane/down.sh"))
            .arg(&self.dir)
            .status();
    }
}

pub struct Controller {
    child: Child,
    port: u16,
}

impl Controller {
    /// Starts the controller as the chart's ServiceAccount; returns once it leads
    /// (with full caches), or fails after `limit`.
    pub fn start(cluster: &Cluster, limit: Duration) -> Res<Controller> {
        let port = free_port();
        let log = std::fs::File::create(cluster.dir.join("controller.log"))?;
        // BENCH_CONTROLLER runs another build (say, the previous commit's) for a
        // before/after comparison on the same machine.
        let binary = std::env::var("BENCH_CONTROLLER")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_workflow-share").to_string());
        let child = Command::new(binary)
            .arg("controller")
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{port}"))
            .env("KUBECONFIG", cluster.dir.join("controller.kubeconfig"))
            .env(
                "RUST_LOG",
                std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("LEASE_DURATION_SECONDS", "4")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        std::fs::write(cluster.dir.join("controller.pid"), child.id().to_string())?;
        let c = Controller { child, port };
        let start = Instant::now();
        while !leads(c.port) {
            if start.elapsed() > limit {
                return Err(format!("the controller did not lead within {limit:?}").into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(c)
    }

    pub fn counter(&self, series: &str) -> f64 {
        metric_at(self.port, series)
    }

    pub fn writes(&self) -> f64 {
        self.counter("workflow_share_writes_total")
    }

    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }

    /// (resident now, peak resident) in MB.
    pub fn rss_mb(&self) -> (f64, f64) {
        rss_mb(self.child.id())
    }

    /// Waits until the controller has run no sync and sent no write for `quiet`.
    /// (Writes are counted when sent, before they wait for a request slot: a
    /// backlog of queued writes shows as syncs in flight.)
    pub async fn settle(&self, quiet: Duration) {
        let mut last = self.writes();
        let mut since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = self.writes();
            if now != last || self.counter("workflow_share_syncs_in_flight") > 0.0 {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
        }
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
