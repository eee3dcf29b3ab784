//! Errors with context, mapped to a bounded set of metric-safe reasons.

/// A failed step of a reconcile. `action` says what was being done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action}: {source}")]
    Kube {
        action: &'static str,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("{action}: {source}")]
    Serialize {
        action: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("reflector stores closed (shutting down)")]
    StoresClosed,
    #[error("object has no {0}")]
    MissingField(&'static str),
    /// The API server has an object the watch has not delivered yet; retried.
    #[error("{0}")]
    NotYetVisible(&'static str),
    /// A reconcile panicked (a bug); contained to the object it was reconciling.
    #[error("reconcile panicked: {0}")]
    Panicked(String),
}

impl Error {
    pub fn kube(action: &'static str) -> impl FnOnce(kube::Error) -> Self {
        move |source| Error::Kube {
            action,
            source: Box::new(source),
        }
    }

    /// Bounded label for metrics: never an object name or error text.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { source, .. } => match source.as_ref() {
                kube::Error::Api(s) if s.code == 409 => "Conflict",
                kube::Error::Api(s) if s.code == 403 => "Forbidden",
                kube::Error::Api(s) if s.code == 404 => "NotFound",
                kube::Error::Api(s) if s.code == 422 => "Invalid",
                kube::Error::Api(_) => "ApiError",
                _ => "Transport",
            },
            Error::Serialize { .. } => "Serialize",
            Error::MissingField(_) => "MissingField",
            Error::NotYetVisible(_) => "CacheBehind",
            Error::StoresClosed => "Shutdown",
            Error::Panicked(_) => "Panic",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
