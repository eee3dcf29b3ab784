//! Leader election over a `coordination.k8s.io/v1` Lease (kube-lease-manager), so
//! several replicas can run: one reconciles, the others keep their caches filled and
//! take over within the lease duration when it goes away, or at once when the leader
//! releases it (a graceful stop).
//!
//! kube-lease-manager looks at a Lease held by someone else again only when it would
//! expire, so a standby would wait out the lease duration after a release. The
//! candidates also watch the Lease: when it shows no holder, a standby starts its
//! manager afresh, which reads the Lease and takes it.

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
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
    task: JoinHandle<Result<LeaseManager, LeaseManagerError>>,
}

/// Completes when `election` is lost; never without one (a single replica).
pub async fn lost(election: Option<&mut Election>) {
    match election {
        Some(e) => e.lost().await,
        None => std::future::pending().await,
    }
}

impl Election {
    pub async fn start(client: Client, options: &LeaseOptions) -> anyhow::Result<Self> {
        let lease_changes = watcher(
            Api::<Lease>::namespaced(client.clone(), &options.namespace),
            watcher::Config::default().fields(&format!("metadata.name={}", options.name)),
        )
        .default_backoff()
        .touched_objects()
        .boxed();
        let manager = manager(client.clone(), options).await?;
        let (sender, leading) = watch::channel(false);
        let task = tokio::spawn(campaign(
            manager,
            client,
            options.clone(),
            sender,
            lease_changes,
        ));
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

/// A lease manager for `options`, which reads the Lease as it is now.
async fn manager(client: Client, options: &LeaseOptions) -> anyhow::Result<LeaseManager> {
    let duration = options.duration_seconds.max(2);
    // Renew a third of the way before expiry.
    let grace = (duration / 3).max(1);
    LeaseManagerBuilder::new(client, &options.name)
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
        })
}

/// Keeps `sender` telling whether we lead, until every receiver is gone; then releases
/// the Lease. A standby that sees the Lease released starts its manager afresh.
async fn campaign(
    mut current: LeaseManager,
    client: Client,
    options: LeaseOptions,
    sender: watch::Sender<bool>,
    mut lease_changes: futures::stream::BoxStream<'static, Result<Lease, watcher::Error>>,
) -> Result<LeaseManager, LeaseManagerError> {
    let mut failures: u32 = 0;
    loop {
        tokio::select! {
            biased;
            _ = sender.closed() => {
                current.release().await?;
                return Ok(current);
            }
            changed = current.changed() => match changed {
                Ok(leading) => {
                    failures = 0;
                    sender.send_replace(leading);
                }
                Err(error) => {
                    tracing::warn!(%error, "leader election: the Lease could not be read or written; retrying");
                    failures = failures.saturating_add(1);
                    let wait = std::time::Duration::from_millis(200 * u64::from(failures.min(25)));
                    tokio::select! {
                        _ = sender.closed() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            },
            Some(Ok(lease)) = lease_changes.next() => {
                let released = lease
                    .spec
                    .and_then(|s| s.holder_identity)
                    .is_none_or(|holder| holder.is_empty());
                if released && !*sender.borrow() {
                    match manager(client.clone(), &options).await {
                        Ok(fresh) => current = fresh,
                        Err(error) => tracing::warn!(%error, "leader election: could not look at the released Lease"),
                    }
                }
            }
        }
    }
}
