//! The webhook receiver: Webhook and AppEvent triggers fire on a signed `POST` to
//! their path (`status.webhookPath`). Every replica serves it, the standby too, so a
//! leader hand-over drops no delivery; it answers from the caches (the trigger,
//! its token Secret, a redelivery's run) and asks the API server only what a
//! scheduled fire asks (may the creator run it?) and writes the run and the
//! delivery's record. It has its own connections to the API server, so requests
//! never wait behind the reconcilers' request slots, and a request's body is read
//! before any of them is used.
//!
//! 1. Route (no client): `paths` finds the trigger of the path.
//! 2. Read and check (no client): size, time, signature (`tokens`), rate
//!    (`limits`), suspension and application event; `planner::webhook` decides.
//! 3. Fire and record (client required): `deliver`.

mod deliver;
mod limits;
mod paths;
mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

pub use paths::WebhookPaths;
pub use tokens::token_state;

/// Whether this replica's receiver finds the trigger at `path` yet: its index is fed
/// by a watch of its own, which may be a moment behind the reconcilers' caches.
/// Without a receiver here, there is nothing to wait for.
pub fn answers_at(stores: &crate::controller::Stores, path: &str) -> bool {
    !stores.receiving_webhooks || deliver::trigger_at(stores, path).is_some()
}

use crate::controller::Context;
use crate::metrics::ResultLabel;
use crate::planner::webhook::Answer;

/// What every request to the receiver shares.
pub struct Receiver {
    /// The controller's caches, with a client of the receiver's own.
    ctx: Arc<Context>,
    limits: limits::RateLimits,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Anything but a POST is answered as an unknown path, whatever the path.
    let answer = match method {
        Method::POST => deliver::answer(&receiver, uri.path(), &headers, body).await,
        _ => Answer::NotFound,
    };
    respond(&receiver, &answer)
}

async fn not_found(State(receiver): State<Arc<Receiver>>) -> Response {
    respond(&receiver, &Answer::NotFound)
}

fn respond(receiver: &Receiver, answer: &Answer) -> Response {
    let result = answer.metric_result();
    receiver
        .ctx
        .metrics
        .webhook_requests
        .get_or_create(&ResultLabel { result })
        .inc();
    let code = StatusCode::from_u16(answer.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        answer.body(),
    )
        .into_response();
    if matches!(answer, Answer::RateLimited) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

/// A sender gets this long to send its request line and headers.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections served at once; more wait to be accepted (file descriptors stay bounded).
const MAX_CONNECTIONS: usize = 1024;

/// Serves the receiver on `addr` until it fails; returns its name then.
pub async fn serve_until_failed(addr: SocketAddr, ctx: Arc<Context>) -> String {
    let receiver = Arc::new(Receiver {
        ctx,
        limits: limits::RateLimits::default(),
    });
    let app = Router::new()
        .route("/hooks/{path}", any(receive))
        .fallback(not_found)
        .with_state(receiver);
    if let Err(error) = serve(addr, app).await {
        tracing::error!(%error, %addr, "webhook receiver failed");
    }
    "webhook receiver".to_string()
}

/// HTTP/1.1 with a timeout on the headers (a slow sender cannot hold a connection
/// open for ever; the body has its own in `deliver`) and a bound on connections.
async fn serve(addr: SocketAddr, app: Router) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(()); // never closed
        };
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: try again shortly.
            Err(error) => {
                tracing::warn!(%error, "webhook receiver: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "webhook receiver: connection ended");
            }
            drop(slot);
        });
    }
}
