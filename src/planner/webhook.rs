//! Webhook and AppEvent triggers: their path on the receiver, the checks a request
//! passes before anything is asked of the API server (signature, size, suspension,
//! the application event), the name of the run a delivery makes, what each answer
//! is, and the trigger's status after a delivery. The receiver gathers the request
//! and the cached trigger and token, and does the I/O; the decisions are here, pure.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::naming;
use crate::resources::{AppEvent, Delivery, Fire, TriggerSpec, TriggerStatus, TriggerType};

use super::trigger::{CREATED, Tick};

/// The only type of Secret the controller reads: a trigger's tokens.
pub const TOKEN_SECRET_TYPE: &str = "sharing.workflows.dev/webhook-token";
/// Every path of the receiver starts with this.
pub const PATH_PREFIX: &str = "/hooks/";
/// A larger body is refused (413) before its signature is checked.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Requests a trigger accepts per minute on each replica unless its spec says.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 60;
/// How much of a sender's delivery id the status keeps.
const DELIVERY_ID_CHARS: usize = 64;

/// The receiver's path of the trigger with this UID: 40 hex digits of a SHA-256 of
/// the UID. Computed the same by every replica from the cached trigger (nothing
/// written anywhere is trusted for it), it names neither the token nor the Secret,
/// and a trigger deleted and made again under the same name gets another one.
pub fn path_of(uid: &str) -> String {
    let digest = Sha256::digest(format!("workflow-share webhook path\n{uid}").as_bytes());
    format!("{PATH_PREFIX}{}", &hex::encode(digest)[..40])
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under any of
/// `tokens`. Each comparison is in constant time (`Mac::verify_slice`).
pub fn signed_by_any<'a>(
    body: &[u8],
    signature: Option<&str>,
    tokens: impl IntoIterator<Item = &'a [u8]>,
) -> bool {
    let Some(hex_digest) = signature.and_then(|s| s.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    tokens.into_iter().any(|token| {
        Hmac::<Sha256>::new_from_slice(token).is_ok_and(|mut mac| {
            mac.update(body);
            mac.verify_slice(&expected).is_ok()
        })
    })
}

/// The signature a sender holding `token` puts on `body` (for tests and examples).
pub fn sign(token: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(token) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(), // HMAC takes a key of any length
    }
}

/// The sender's delivery id: `X-Delivery-ID`, else GitHub's `X-GitHub-Delivery`;
/// blank counts as none.
pub fn delivery_id<'a>(ours: Option<&'a str>, github: Option<&'a str>) -> Option<&'a str> {
    [ours, github]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|id| !id.is_empty())
}

/// The name of the run a delivery makes: the same for every attempt of one delivery
/// to one trigger, on any replica and after any restart, so that the API server
/// refuses a second run. (Without a delivery id every request is a run of its own,
/// named by the API server.)
pub fn run_name(trigger: &str, uid: &str, delivery: &str) -> String {
    let digest = Sha256::digest(format!("{uid}\n{delivery}").as_bytes());
    naming::fit_name(&format!("{trigger}-d{}", &hex::encode(digest)[..16]))
}

/// Whether the JSON body's `source` and `event` are the trigger's application event.
pub fn app_event_matches(expected: &AppEvent, body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let field = |name: &str| value.get(name).and_then(|v| v.as_str());
    field("source") == Some(expected.source.as_str())
        && field("event") == Some(expected.event.as_str())
}

/// What the receiver answers a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A run was made for it.
    Accepted { run: String },
    /// A redelivery: the run of that delivery exists already.
    Duplicate { run: String },
    /// No trigger has that path (or it is a Schedule trigger).
    NotFound,
    /// The body is over `MAX_BODY_BYTES`.
    TooLarge,
    /// No signature, or not one of the trigger's tokens.
    BadSignature,
    /// Over the trigger's rate limit.
    RateLimited,
    /// The trigger is suspended.
    Suspended,
    /// An AppEvent trigger's `source` and `event` are not in the body.
    EventMismatch,
    /// The creator may not run the workflow now (the reason is CamelCase).
    Refused(&'static str),
    /// The body took too long to arrive.
    TimedOut,
    /// The API server could not be asked or written to; the sender may retry.
    Unavailable,
}

impl Answer {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            Answer::Accepted { .. } => 201,
            Answer::Duplicate { .. } => 200,
            Answer::NotFound => 404,
            Answer::TooLarge => 413,
            Answer::BadSignature => 401,
            Answer::RateLimited => 429,
            Answer::Suspended => 409,
            Answer::EventMismatch => 422,
            Answer::Refused(_) => 403,
            Answer::TimedOut => 408,
            Answer::Unavailable => 503,
        }
    }

    /// The bounded label of `workflow_share_webhook_requests_total`.
    pub fn metric_result(&self) -> &'static str {
        match self {
            Answer::Accepted { .. } => "accepted",
            Answer::Duplicate { .. } => "duplicate",
            Answer::NotFound => "not_found",
            Answer::TooLarge => "too_large",
            Answer::BadSignature => "bad_signature",
            Answer::RateLimited => "rate_limited",
            Answer::Suspended => "suspended",
            Answer::EventMismatch => "event_mismatch",
            Answer::Refused(_) => "refused",
            Answer::TimedOut => "timed_out",
            Answer::Unavailable => "unavailable",
        }
    }

    /// What the trigger's status records of it: only requests signed with its token
    /// and within its rate limit are recorded, so nobody without the token can make
    /// the controller write.
    pub fn recorded(&self) -> Option<&'static str> {
        match self {
            Answer::Accepted { .. } => Some(CREATED),
            Answer::Duplicate { .. } => Some("Duplicate"),
            Answer::Suspended => Some("Suspended"),
            Answer::EventMismatch => Some("EventMismatch"),
            Answer::Refused(reason) => Some(reason),
            _ => None,
        }
    }

    /// The run it names, if any.
    pub fn run(&self) -> &str {
        match self {
            Answer::Accepted { run } | Answer::Duplicate { run } => run,
            _ => "",
        }
    }

    /// The body of the answer: one line of JSON.
    pub fn body(&self) -> String {
        let message = match self {
            Answer::Accepted { .. } => "run created",
            Answer::Duplicate { .. } => "this delivery made its run already",
            Answer::NotFound => "not found",
            Answer::TooLarge => "the body is over 1 MiB",
            Answer::BadSignature => {
                "missing or bad signature: send X-Signature-256: sha256=<HMAC-SHA256 of the body>"
            }
            Answer::RateLimited => "over the trigger's rate limit: retry later",
            Answer::Suspended => "the trigger is suspended",
            Answer::EventMismatch => "the body's source and event are not the trigger's",
            Answer::Refused(_) => "the trigger's creator may not run its workflow",
            Answer::TimedOut => "the body took too long",
            Answer::Unavailable => "could not reach the Kubernetes API: retry",
        };
        let mut body = serde_json::json!({ "result": self.metric_result(), "message": message });
        if let Answer::Refused(reason) = self {
            body["reason"] = (*reason).into();
        }
        if !self.run().is_empty() {
            body["run"] = self.run().into();
        }
        body.to_string()
    }
}

/// The checks a request to a found trigger passes before the API server is asked
/// anything, in order: the signature (before anything else, so that nobody without
/// a token learns whether the trigger is suspended or spends its rate limit), the
/// rate limit (`within_rate` is asked only of signed requests), suspension, and the
/// application event.
pub fn check_request<'a>(
    spec: &TriggerSpec,
    body: &[u8],
    signature: Option<&str>,
    tokens: impl IntoIterator<Item = &'a [u8]>,
    within_rate: impl FnOnce() -> bool,
) -> Result<(), Answer> {
    if spec.type_ == TriggerType::Schedule {
        return Err(Answer::NotFound);
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(Answer::TooLarge);
    }
    if !signed_by_any(body, signature, tokens) {
        return Err(Answer::BadSignature);
    }
    if !within_rate() {
        return Err(Answer::RateLimited);
    }
    if spec.suspend {
        return Err(Answer::Suspended);
    }
    if spec.type_ == TriggerType::AppEvent
        && !spec
            .app_event
            .as_ref()
            .is_some_and(|e| app_event_matches(e, body))
    {
        return Err(Answer::EventMismatch);
    }
    Ok(())
}

/// The requests per minute a trigger accepts on each replica.
pub fn requests_per_minute(spec: &TriggerSpec) -> u32 {
    // The schema keeps it within 1..=6000; an int32 is what the API conventions use.
    spec.webhook
        .as_ref()
        .and_then(|w| w.requests_per_minute)
        .and_then(|rate| u32::try_from(rate).ok())
        .unwrap_or(DEFAULT_REQUESTS_PER_MINUTE)
        .max(1)
}

/// The trigger's status after answering a signed request at `now`: the last
/// delivery always; a made or refused run also as a fire (newest first, at most
/// `history_limit`), like a schedule's.
pub fn status_after(
    mut status: TriggerStatus,
    answer: &Answer,
    delivery_id: Option<&str>,
    history_limit: i32,
    now: &str,
) -> Option<TriggerStatus> {
    let result = answer.recorded()?;
    status.last_delivery = Some(Delivery {
        time: now.to_string(),
        result: result.to_string(),
        run: answer.run().to_string(),
        delivery_id: delivery_id
            .map(|id| id.chars().take(DELIVERY_ID_CHARS).collect())
            .unwrap_or_default(),
    });
    if matches!(answer, Answer::Accepted { .. } | Answer::Refused(_)) {
        status.last_fire_time = Some(now.to_string());
        status.recent_fires.insert(
            0,
            Fire {
                scheduled_time: now.to_string(),
                run: answer.run().to_string(),
                outcome: result.to_string(),
            },
        );
        let kept = usize::try_from(history_limit.max(1)).unwrap_or(usize::MAX);
        status.recent_fires.truncate(kept);
    }
    Some(status)
}

/// Whether the trigger's token Secret was found in the cache, and usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// Of the right type, with at least one key.
    Usable,
    /// No Secret of that name and type in the namespace.
    Missing,
    /// The Secret has no key.
    Empty,
}

/// Ready of a Webhook or AppEvent trigger: listening when its token Secret is
/// usable and its last fire was not refused.
pub fn tick(spec: &TriggerSpec, token: Token, last_fire: Option<&Fire>) -> Tick {
    let idle = |ready, reason, message: String| Tick::Idle {
        ready,
        reason,
        message,
    };
    let secret = spec
        .webhook
        .as_ref()
        .map(|w| w.secret_ref.name.as_str())
        .unwrap_or_default();
    match (spec.suspend, token, last_fire) {
        (true, ..) => idle(true, "Suspended", "suspended: requests get 409".to_string()),
        (false, Token::Missing, _) => idle(
            false,
            "TokenSecretNotFound",
            format!(
                "no Secret {secret:?} of type {TOKEN_SECRET_TYPE} in this namespace: requests get 401"
            ),
        ),
        (false, Token::Empty, _) => idle(
            false,
            "TokenSecretEmpty",
            format!("the Secret {secret:?} has no key: requests get 401"),
        ),
        (false, Token::Usable, Some(fire)) if fire.outcome != CREATED => idle(
            false,
            "DeliveryRefused",
            format!(
                "the request of {} was refused ({}): the trigger runs only as its creator, who must be able to run the workflow",
                fire.scheduled_time, fire.outcome
            ),
        ),
        (false, Token::Usable, _) => idle(
            true,
            "Listening",
            "a request to status.webhookPath signed with a token of its Secret fires it, as its creator"
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests;
