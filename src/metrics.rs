//! Prometheus metrics and the health endpoints. Labels are bounded sets
//! (error reasons, object kinds), never object names.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// What the webhook receiver answered: one of `planner::webhook::Answer`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

/// Which controller: one of the fixed names the controllers are started with.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerReasonLabel {
    pub controller: &'static str,
    pub reason: &'static str,
}

/// Reconcile durations from 1 ms to about 33 s, doubling.
fn reconcile_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// What a write sent to the API server was about: the bounded label of
/// `workflow_share_writes_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    SharedWorkflow,
    Role,
    RoleBinding,
    Event,
    Status,
    Finalizer,
    Workflow,
    WorkflowRun,
}

impl WriteKind {
    pub const ALL: [WriteKind; 8] = [
        WriteKind::SharedWorkflow,
        WriteKind::Role,
        WriteKind::RoleBinding,
        WriteKind::Event,
        WriteKind::Status,
        WriteKind::Finalizer,
        WriteKind::Workflow,
        WriteKind::WorkflowRun,
    ];

    pub fn label(self) -> &'static str {
        match self {
            WriteKind::SharedWorkflow => "SharedWorkflow",
            WriteKind::Role => "Role",
            WriteKind::RoleBinding => "RoleBinding",
            WriteKind::Event => "Event",
            WriteKind::Status => "Status",
            WriteKind::Finalizer => "Finalizer",
            WriteKind::Workflow => "Workflow",
            WriteKind::WorkflowRun => "WorkflowRun",
        }
    }
}

/// Kind of the object whose reconcile panicked (one of ours: a bounded set).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PanicLabel {
    pub kind: String,
}

/// Where the process is in its life, as the health endpoints report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Health {
    /// Filling the caches: alive, not ready.
    Starting = 0,
    /// Caches filled, another replica leads: alive and ready, reconciling nothing.
    Standby = 4,
    /// Every reconcile loop and watch is running: alive and ready.
    Running = 1,
    /// Stopping on a signal: alive, not ready.
    Stopping = 2,
    /// A reconcile loop or watch stopped unexpectedly: neither (the process exits).
    Failed = 3,
}

pub struct Metrics {
    registry: Registry,
    /// Workflow syncs run.
    pub syncs: Counter,
    /// Failed syncs by bounded reason.
    pub sync_errors: Family<ReasonLabel, Counter>,
    /// Writes sent to the API server, by what was written. Zero on a converged cluster.
    pub writes: Family<KindLabel, Counter>,
    /// Grant notifications sent (one Event per new grant).
    pub notifications: Counter,
    /// Failed reconciles by controller and bounded reason.
    pub reconcile_errors: Family<ControllerReasonLabel, Counter>,
    /// How long each reconcile took, by controller.
    pub reconcile_duration: Family<ControllerLabel, Histogram, fn() -> Histogram>,
    /// Syncs waiting for or holding a per-workflow lock.
    pub in_flight: Gauge,
    /// Reconciles that panicked, by kind; each was contained and retried.
    pub panics: Family<PanicLabel, Counter>,
    /// 1 while this replica leads (reconciles), 0 otherwise.
    pub leader: Gauge,
    /// Requests to the webhook receiver, by bounded result.
    pub webhook_requests: Family<ResultLabel, Counter>,
    health: AtomicU8,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("workflow_share");
        let syncs = Counter::default();
        let sync_errors = Family::<ReasonLabel, Counter>::default();
        let writes = Family::<KindLabel, Counter>::default();
        let notifications = Counter::default();
        let in_flight = Gauge::default();
        let panics = Family::<PanicLabel, Counter>::default();
        let leader = Gauge::default();
        let webhook_requests = Family::<ResultLabel, Counter>::default();
        let reconcile_errors = Family::<ControllerReasonLabel, Counter>::default();
        let reconcile_duration =
            Family::<ControllerLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                reconcile_buckets,
            );
        registry.register(
            "reconcile_errors",
            "Failed reconciles by controller and reason",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time each reconcile took, by controller",
            reconcile_duration.clone(),
        );
        registry.register("syncs", "Workflow syncs run", syncs.clone());
        registry.register(
            "sync_errors",
            "Failed workflow syncs by reason",
            sync_errors.clone(),
        );
        registry.register(
            "writes",
            "Writes sent to the API server by object kind",
            writes.clone(),
        );
        registry.register(
            "notifications",
            "Grant notifications sent",
            notifications.clone(),
        );
        registry.register(
            "syncs_in_flight",
            "Syncs running or waiting for their workflow",
            in_flight.clone(),
        );
        registry.register(
            "reconcile_panics",
            "Reconciles that panicked (contained to their object and retried) by kind",
            panics.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and reconciles",
            leader.clone(),
        );
        registry.register(
            "webhook_requests",
            "Requests to the webhook receiver by result",
            webhook_requests.clone(),
        );
        Self {
            registry,
            webhook_requests,
            syncs,
            sync_errors,
            writes,
            notifications,
            in_flight,
            panics,
            reconcile_errors,
            reconcile_duration,
            leader,
            health: AtomicU8::new(Health::Starting as u8),
        }
    }
}

impl Metrics {
    pub fn write(&self, kind: WriteKind) {
        self.writes
            .get_or_create(&KindLabel { kind: kind.label() })
            .inc();
    }

    pub fn total_writes(&self) -> u64 {
        WriteKind::ALL
            .iter()
            .map(|kind| {
                self.writes
                    .get_or_create(&KindLabel { kind: kind.label() })
                    .get()
            })
            .sum()
    }

    pub fn reconciled(&self, controller: &'static str, took: std::time::Duration) {
        self.reconcile_duration
            .get_or_create(&ControllerLabel { controller })
            .observe(took.as_secs_f64());
    }

    pub fn reconcile_failed(&self, controller: &'static str, reason: &'static str) {
        self.reconcile_errors
            .get_or_create(&ControllerReasonLabel { controller, reason })
            .inc();
    }

    pub fn panic(&self, kind: &str) {
        self.panics
            .get_or_create(&PanicLabel {
                kind: kind.to_string(),
            })
            .inc();
    }

    pub fn set_health(&self, health: Health) {
        self.health.store(health as u8, Ordering::SeqCst);
    }

    pub fn health(&self) -> Health {
        match self.health.load(Ordering::SeqCst) {
            0 => Health::Starting,
            1 => Health::Running,
            2 => Health::Stopping,
            4 => Health::Standby,
            _ => Health::Failed,
        }
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

async fn metrics_handler(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    match m.encode() {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            String::new(),
        ),
    }
}

/// Alive unless a reconcile loop or watch has stopped.
async fn healthz(State(m): State<Arc<Metrics>>) -> StatusCode {
    match m.health() {
        Health::Failed => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    }
}

/// Ready while every reconcile loop runs on filled caches.
async fn readyz(State(m): State<Arc<Metrics>>) -> StatusCode {
    match m.health() {
        Health::Running | Health::Standby => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Serves /metrics, /healthz (alive unless a reconcile loop or watch stopped) and
/// /readyz (ready once the caches are filled and the loops run).
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(metrics);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}

/// `serve`, as a long-running task: it ends (with its name) only if the server fails.
pub async fn serve_until_failed(addr: SocketAddr, metrics: Arc<Metrics>) -> String {
    if let Err(error) = serve(addr, metrics).await {
        tracing::error!(%error, "metrics and health server failed");
    }
    "metrics and health server".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_controller_is_timed_and_its_errors_counted_by_bounded_reason() {
        let metrics = Metrics::default();
        metrics.reconciled("workflow", std::time::Duration::from_millis(3));
        metrics.reconciled("trigger", std::time::Duration::from_secs(2));
        metrics.reconcile_failed("clone", "Conflict");
        metrics.reconcile_failed("clone", "Conflict");
        let text = metrics.encode().expect("encode");
        assert!(
            text.contains(
                "workflow_share_reconcile_duration_seconds_bucket{le=\"0.004\",controller=\"workflow\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains(
            "workflow_share_reconcile_duration_seconds_bucket{le=\"1.024\",controller=\"trigger\"} 0"
        ));
        assert!(
            text.contains(
                "workflow_share_reconcile_duration_seconds_count{controller=\"trigger\"} 1"
            )
        );
        assert!(text.contains(
            "workflow_share_reconcile_errors_total{controller=\"clone\",reason=\"Conflict\"} 2"
        ));
    }
}
