//! One request to the receiver, from its path to its answer: find the trigger in
//! the cache, read the body (bounded in size and time), let the planner check it,
//! then fire as the trigger's creator exactly like a schedule does, and record the
//! delivery in the trigger's status (client required for the fire and the record).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::naming;
use crate::planner::trigger::{Owner, is_run_of};
use crate::planner::webhook::{self, Answer, MAX_BODY_BYTES};
use crate::resources::condition::now_rfc3339;
use crate::resources::{Trigger, TriggerStatus, TriggerType, WorkflowRun};
use crate::runtime::events::{self, Notice};
use crate::runtime::status_writes;

use super::Receiver;
use super::tokens::tokens_of;
use crate::controller::Stores;
use crate::controller::triggers::{Created, RunName, create_run, may_fire};

/// A slow sender gets this long to send its body, then 408.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The trigger whose path this is, as cached.
pub fn trigger_at(stores: &Stores, path: &str) -> Option<Arc<Trigger>> {
    let trigger = stores
        .webhook_triggers
        .get(&stores.webhook_paths.get(path)?)?;
    // The index may lag the cache by an event: the path must still be this UID's.
    // A Schedule trigger has no path: answered like no trigger, before any body.
    let uid = trigger.uid()?;
    let reachable = trigger.spec.type_ != TriggerType::Schedule;
    (reachable && webhook::path_of(&uid) == path).then_some(trigger)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The body, at most `MAX_BODY_BYTES`, within `BODY_TIMEOUT`.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, Answer> {
    let declared = header(headers, "content-length").and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > MAX_BODY_BYTES) {
        return Err(Answer::TooLarge);
    }
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Err(_) => Err(Answer::TimedOut),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(Answer::TooLarge),
        Ok(Err(_)) => Err(Answer::TimedOut), // the sender went away
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Answers one request to `path`.
pub async fn answer(receiver: &Receiver, path: &str, headers: &HeaderMap, body: Body) -> Answer {
    let Some(trigger) = trigger_at(&receiver.ctx.stores, path) else {
        return Answer::NotFound;
    };
    let body = match read_body(headers, body).await {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    let signature =
        header(headers, "x-signature-256").or_else(|| header(headers, "x-hub-signature-256"));
    let (_, tokens) = tokens_of(&receiver.ctx.stores.webhook_tokens, &trigger);
    let uid = trigger.uid().unwrap_or_default();
    let per_minute = webhook::requests_per_minute(&trigger.spec);
    let checked = webhook::check_request(
        &trigger.spec,
        &body,
        signature,
        tokens.iter().map(Vec::as_slice),
        || receiver.limits.allow(&uid, per_minute),
    );
    let delivery = webhook::delivery_id(
        header(headers, "x-delivery-id"),
        header(headers, "x-github-delivery"),
    );
    let answer = match checked {
        Ok(()) => fire(receiver, &trigger, delivery).await,
        Err(answer) => answer,
    };
    record(receiver, &trigger, &answer, delivery).await;
    answer
}

/// The answer to a delivery whose run name `run` is taken by `existing`: a
/// redelivery if the run is this trigger's own, refused if somebody else made a run
/// under that name.
fn redelivery(trigger: &Trigger, run: String, existing: &WorkflowRun) -> Answer {
    let (namespace, name) = (trigger.namespace().unwrap_or_default(), trigger.name_any());
    let uid = trigger.uid().unwrap_or_default();
    let owner = Owner {
        namespace: &namespace,
        name: &name,
        uid: &uid,
    };
    match is_run_of(owner, existing) {
        true => Answer::Duplicate { run },
        false => Answer::Refused("RunNameTaken"),
    }
}

/// Fires `trigger` for one signed request: the same checks of its creator as a
/// scheduled fire, then the run, named by the delivery if it has an id.
async fn fire(receiver: &Receiver, trigger: &Trigger, delivery: Option<&str>) -> Answer {
    let ctx = &receiver.ctx;
    let namespace = trigger.namespace().unwrap_or_default();
    let uid = trigger.uid().unwrap_or_default();
    let name = match delivery {
        Some(id) => RunName::Fixed(webhook::run_name(&trigger.name_any(), &uid, id)),
        None => RunName::Generated,
    };
    // A redelivery whose run the cache shows already: nothing is asked or written.
    if let RunName::Fixed(run) = &name {
        let cached = ctx
            .stores
            .workflow_runs
            .get(&ObjectRef::new(run).within(&namespace));
        if let Some(cached) = cached {
            return redelivery(trigger, run.clone(), &cached);
        }
    }
    let creator = match may_fire(ctx, trigger, &namespace).await {
        Ok(Ok(creator)) => creator,
        Ok(Err(reason)) => return Answer::Refused(reason),
        Err(error) => {
            warn!(%error, trigger = %trigger.name_any(), %namespace, "webhook: could not check the creator");
            return Answer::Unavailable;
        }
    };
    // Whole seconds, as a schedule's times: runs are pruned in the order of these.
    let now = jiff::Timestamp::now();
    let at = now.round(jiff::Unit::Second).unwrap_or(now);
    match create_run(ctx, trigger, &namespace, at, creator, name).await {
        Ok(Created::New(run)) => Answer::Accepted { run },
        // Made a moment ago by the other replica, or before a restart: ours if it is
        // labelled and owned as the trigger's, as the cache shows it in a moment.
        Ok(Created::Existed(run)) => {
            let key = ObjectRef::new(&run).within(&namespace);
            // Up to 5 s: a watch event is usually milliseconds behind, more under load.
            for _ in 0..100 {
                if let Some(existing) = ctx.stores.workflow_runs.get(&key) {
                    return redelivery(trigger, run, &existing);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Answer::Unavailable
        }
        Err(error) => {
            warn!(%error, trigger = %trigger.name_any(), %namespace, "webhook: could not create the run");
            Answer::Unavailable
        }
    }
}

/// Records a signed request's answer in the trigger's status, over the status this
/// replica cached (a precondition: the other replica or the trigger controller may
/// have written since, and then the newer status is read and written over), and
/// puts a Warning Event on the trigger when its creator's run was refused.
async fn record(receiver: &Receiver, trigger: &Trigger, answer: &Answer, delivery: Option<&str>) {
    let ctx = &receiver.ctx;
    let now = now_rfc3339();
    let (namespace, name) = (trigger.namespace().unwrap_or_default(), trigger.name_any());
    let api: Api<Trigger> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut seen = (trigger.status.clone(), trigger.resource_version());
    for _ in 0..3 {
        let status = seen.0.clone().unwrap_or_default();
        let limit = trigger.spec.history_limit;
        let Some(next) = webhook::status_after(status, answer, delivery, limit, &now) else {
            return;
        };
        let body = delivery_patch(&next, seen.1.as_deref());
        ctx.metrics.write(crate::metrics::WriteKind::Status);
        let params = status_writes::params();
        match api.patch_status(&name, &params, &Patch::Merge(&body)).await {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 => match api.get(&name).await {
                Ok(fresh) => seen = (fresh.status.clone(), fresh.resource_version()),
                Err(_) => return,
            },
            Err(error) => {
                warn!(%error, trigger = %name, %namespace, "webhook: could not record the delivery");
                return;
            }
        }
    }
    info!(trigger = %name, %namespace, result = answer.metric_result(), run = answer.run(), "webhook delivery");
    if let Answer::Refused(reason) = answer {
        warn_refused(receiver, trigger, reason).await;
    }
}

/// The fields a delivery changes, over the resourceVersion they were computed from.
fn delivery_patch(next: &TriggerStatus, version: Option<&str>) -> serde_json::Value {
    json!({
        "metadata": { "resourceVersion": version },
        "status": {
            "lastDelivery": next.last_delivery,
            "lastFireTime": next.last_fire_time,
            "recentFires": next.recent_fires,
        },
    })
}

/// A Warning Event on the trigger: a delivery was refused because of its creator's
/// rights. One Event per trigger and reason, counted as a series when it repeats.
async fn warn_refused(receiver: &Receiver, trigger: &Trigger, reason: &'static str) {
    let ctx = &receiver.ctx;
    let namespace = trigger.namespace().unwrap_or_default();
    let creator = trigger
        .status
        .as_ref()
        .and_then(|s| s.creator.clone())
        .unwrap_or_default();
    let reference: ObjectReference = trigger.object_ref(&());
    let notice = Notice {
        name: naming::fit_name(&format!(
            "{}.webhook-refused.{}",
            trigger.name_any(),
            reason.to_ascii_lowercase()
        )),
        namespace,
        type_: "Warning",
        action: "Fire",
        reason,
        note: format!(
            "a signed request was refused ({reason}): the trigger runs {} only as its creator {creator}, who may not run it now",
            trigger.spec.workflow_ref.name
        ),
        regarding: reference,
        related: None,
    };
    let refusals = (trigger.status.iter().flat_map(|s| &s.recent_fires))
        .filter(|f| f.outcome != crate::planner::trigger::CREATED)
        .count();
    let count = u32::try_from(refusals + 1).unwrap_or(u32::MAX);
    if let Err(error) = events::record_repeating(ctx, &events::build(ctx, notice), count).await {
        warn!(%error, "webhook: could not record the refusal Event");
    }
}
