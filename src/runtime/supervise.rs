//! Keeping the controller honest about being alive.
//!
//! - A panic inside one reconcile is contained to that object: it becomes an
//!   `Error::Panicked`, is counted, reported as a Warning Event on the object and
//!   retried with exponential backoff, while every other object keeps converging.
//!   Continuing is sound because a reconcile holds no state that a panic could leave
//!   half-written: the stores are read-only, per-workflow locks are released on
//!   unwind, and the cluster is re-read on the retry.
//! - Any long-running task that ends on its own (a controller loop, a watch, the
//!   health server) is fatal: `/healthz` fails and the process exits non-zero, so
//!   Kubernetes restarts it instead of leaving a process that answers probes but
//!   converges nothing.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::controller::Action;
use tracing::{error, warn};

use crate::error::Error;
use crate::metrics::Health;
use crate::naming;

use crate::controller::Context;
use crate::runtime::events::{self, Notice};

/// First retry after a failure; doubles per consecutive failure of the same object.
const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// Longest wait between retries of a failing object.
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Consecutive failures per object, for exponential backoff. An entry lives only
/// while its object keeps failing, so the map is bounded by the failing objects.
#[derive(Default)]
pub struct Failures(std::sync::Mutex<HashMap<String, u32>>);

impl Failures {
    /// Counts one more failure of `key`; returns how many in a row.
    pub fn record(&self, key: &str) -> u32 {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = map.entry(key.to_string()).or_default();
        *count = count.saturating_add(1);
        *count
    }

    pub fn clear(&self, key: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

/// Wait before the `failures`-th retry in a row: 2 s, 4 s, 8 s, … up to 5 minutes.
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    BACKOFF_BASE
        .saturating_mul(1u32 << exponent)
        .min(BACKOFF_MAX)
}

fn object_key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    let meta = obj.meta();
    format!(
        "{}/{}/{}",
        K::kind(&()),
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

/// The text of a panic payload (`panic!` with a literal or a formatted message).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".to_string())
}

/// Runs one reconcile of `controller` with a panic turned into an error of that
/// object alone, and times it.
pub async fn guarded<K, F, Fut>(
    controller: &'static str,
    obj: Arc<K>,
    ctx: Arc<Context>,
    reconcile: F,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()>,
    F: FnOnce(Arc<K>, Arc<Context>) -> Fut,
    Fut: Future<Output = Result<Action, Error>>,
{
    let key = object_key(obj.as_ref());
    let started = std::time::Instant::now();
    let result = match AssertUnwindSafe(reconcile(obj, ctx.clone()))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(payload) => {
            ctx.metrics.panic(K::kind(&()).as_ref());
            Err(Error::Panicked(panic_message(payload.as_ref())))
        }
    };
    ctx.metrics.reconciled(controller, started.elapsed());
    if result.is_ok() {
        ctx.failures.clear(&key);
    }
    result
}

/// Error policy of every controller: exponential backoff per object; a panic is
/// also reported on the object as a Warning Event (one Event whose count grows).
pub fn error_policy<K>(
    controller: &'static str,
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action
where
    K: Resource<DynamicType = ()> + 'static,
{
    ctx.metrics
        .reconcile_failed(controller, error.metric_label());
    let failures = ctx.failures.record(&object_key(obj.as_ref()));
    let delay = backoff(failures);
    warn!(
        kind = %K::kind(&()),
        name = obj.meta().name.as_deref().unwrap_or(""),
        namespace = obj.meta().namespace.as_deref().unwrap_or(""),
        reason = error.metric_label(),
        %error,
        failures,
        retry_in_s = delay.as_secs(),
        "reconcile failed; retrying"
    );
    let report = match error {
        Error::Panicked(message) => Some((
            "ReconcilePanicked",
            format!(
                "internal error while reconciling (a bug in workflow-share; other objects are \
                 not affected), retried with backoff: {message}"
            ),
        )),
        // The API server refused a write: a retry alone will not fix it, and whoever
        // owns the object must see why, not only the controller's log.
        _ if refused_by_api_server(error) => Some((
            "WriteRefused",
            format!("the API server refused a write, retried with backoff: {error}"),
        )),
        _ => None,
    };
    if let Some((reason, note)) = report {
        let regarding = obj.object_ref(&());
        tokio::spawn(async move {
            if let Err(e) = report_failure(&ctx, regarding, reason, note, failures).await {
                warn!(error = %e, "could not record the failure as an Event");
            }
        });
    }
    Action::requeue(delay)
}

/// An answer of the API server that says the request itself is wrong (invalid,
/// forbidden), not that it should be retried (a conflict, throttling, a server error).
fn refused_by_api_server(error: &Error) -> bool {
    match error {
        Error::Kube { source, .. } => match source.as_ref() {
            kube::Error::Api(s) => {
                (400..500).contains(&s.code) && ![404, 409, 429].contains(&s.code)
            }
            _ => false,
        },
        _ => false,
    }
}

async fn report_failure(
    ctx: &Context,
    regarding: ObjectReference,
    reason: &'static str,
    note: String,
    failures: u32,
) -> Result<(), kube::Error> {
    let name = regarding.name.clone().unwrap_or_default();
    let uid = regarding.uid.clone().unwrap_or_default();
    // Cluster-scoped objects (Organizations) get their Events in `default`, as kubectl expects.
    let namespace = regarding
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let event = events::build(
        ctx,
        Notice {
            name: naming::failure_event_name(&name, &uid),
            namespace,
            type_: "Warning",
            action: "Reconcile",
            reason,
            note,
            regarding,
            related: None,
        },
    );
    events::record_repeating(ctx, &event, failures).await
}

/// A long-running task ended without being asked to: report it and fail, so the
/// process exits non-zero and Kubernetes restarts it.
pub fn failed(
    metrics: &crate::metrics::Metrics,
    ended: Result<String, tokio::task::JoinError>,
) -> anyhow::Error {
    metrics.set_health(Health::Failed);
    let what = match ended {
        Ok(name) => format!("{name} stopped unexpectedly"),
        Err(e) if e.is_panic() => format!(
            "a controller task panicked: {}",
            panic_message(e.into_panic().as_ref())
        ),
        Err(e) => format!("a controller task was cancelled: {e}"),
    };
    error!(%what, "controller failed; exiting so that it is restarted");
    anyhow::anyhow!(what)
}

/// Waits for SIGTERM (what Kubernetes sends) or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the controller");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_two_seconds_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff(0).as_secs(), 2);
        assert_eq!(backoff(u32::MAX).as_secs(), 300, "no overflow");
    }

    #[test]
    fn failures_count_in_a_row_and_reset() {
        let f = Failures::default();
        assert_eq!(f.record("a"), 1);
        assert_eq!(f.record("a"), 2);
        assert_eq!(f.record("b"), 1);
        f.clear("a");
        assert_eq!(f.record("a"), 1);
    }

    #[test]
    fn panic_payloads_become_messages() {
        let literal = std::panic::catch_unwind(|| panic!("literal")).unwrap_err();
        assert_eq!(panic_message(literal.as_ref()), "literal");
        let formatted =
            std::panic::catch_unwind(|| panic!("byte index {} is not a char boundary", 7))
                .unwrap_err();
        assert_eq!(
            panic_message(formatted.as_ref()),
            "byte index 7 is not a char boundary"
        );
    }
}
