//! Leader election over a `coordination.k8s.io/v1` Lease (kube-lease-manager), so
//! several replicas can run: one reconciles, the others keep their caches filled and
//! take over within the lease duration when it goes away.

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where the Lease is and who we are.
#[derive(Clone, Debug)]
pub struct LeaseOptions {
    pub namespace: String,
    pub name: String,
    /// Unique per replica (the pod name in a cluster).
    pub identity: String,
    /// A leader that stops renewing loses the lease after this long.
    pub duration_seconds: u64,
}

/// A running election: `leading` flips to true when we lead, back to false if we lose.
pub struct Election {
    pub leading: watch::Receiver<bool>,
    task:
        JoinHandle<Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>>,
}

impl Election {
    pub async fn start(client: Client, options: &LeaseOptions) -> anyhow::Result<Self> {
        let duration = options.duration_seconds.max(2);
        // Renew a third of the way before expiry.
        let grace = (duration / 3).max(1);
        let manager = LeaseManagerBuilder::new(client, &options.name)
            .with_namespace(&options.namespace)
            .with_identity(&options.identity)
            .with_duration(duration)
            .with_grace(grace)
            .build()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "leader election: cannot use Lease {}/{}: {e}",
                    options.namespace,
                    options.name
                )
            })?;
        let (leading, task) = manager.watch().await;
        Ok(Self { leading, task })
    }

    /// Waits until we lead. Err when the election task ended.
    pub async fn until_leading(&mut self) -> anyhow::Result<()> {
        self.leading
            .wait_for(|leading| *leading)
            .await
            .map(|_| ())
            .map_err(|_| anyhow::anyhow!("leader election stopped"))
    }

    /// Resolves when we stop leading (or the election task ended).
    pub async fn lost(&mut self) {
        let _ = self.leading.wait_for(|leading| !*leading).await;
    }

    /// Gives the lease up at once, so another replica takes over without waiting for
    /// it to expire (dropping our receiver makes the election task release it).
    pub async fn release(self) {
        drop(self.leading);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.task).await;
    }
}
