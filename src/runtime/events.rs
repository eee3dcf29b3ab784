//! events.k8s.io/v1 Events written by the controller: the grant notification and
//! the warning about a reconcile that failed unexpectedly. Texts in them come from
//! the cluster (user names, workflow names) and are bounded here to the limits the
//! API server enforces, cut at character boundaries.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::labels;
use crate::metrics::WriteKind;
use crate::text;

use crate::controller::Context;

/// `note` of an Event: at most 1 KB.
pub const NOTE_MAX_BYTES: usize = 1024;
/// `reportingInstance` of an Event: at most 128 bytes.
pub const INSTANCE_MAX_BYTES: usize = 128;

/// What an Event says, about which object.
pub struct Notice {
    /// Deterministic, so that a retry finds the Event it already wrote.
    pub name: String,
    pub namespace: String,
    pub type_: &'static str,
    pub action: &'static str,
    pub reason: &'static str,
    pub note: String,
    pub regarding: ObjectReference,
    pub related: Option<ObjectReference>,
}

pub fn build(ctx: &Context, notice: Notice) -> Event {
    Event {
        metadata: kube::api::ObjectMeta {
            name: Some(notice.name),
            namespace: Some(notice.namespace),
            labels: Some(
                [(
                    labels::MANAGED_BY_KEY.to_string(),
                    labels::MANAGED_BY_VALUE.to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        event_time: Some(MicroTime(jiff::Timestamp::now())),
        reporting_controller: Some(labels::REPORTING_CONTROLLER.to_string()),
        reporting_instance: Some(
            text::prefix_within(&ctx.instance, INSTANCE_MAX_BYTES).to_string(),
        ),
        action: Some(notice.action.to_string()),
        reason: Some(notice.reason.to_string()),
        type_: Some(notice.type_.to_string()),
        note: Some(text::ellipsize(&notice.note, NOTE_MAX_BYTES)),
        regarding: Some(notice.regarding),
        related: notice.related,
        ..Default::default()
    }
}

/// Creates the Event once. Returns false when it already existed (a retry).
pub async fn create_once(ctx: &Context, event: &Event) -> Result<bool, kube::Error> {
    let ns = event.metadata.namespace.as_deref().unwrap_or("default");
    let name = event.metadata.name.as_deref().unwrap_or_default();
    // A sync that runs again before the store shows the status recording this Event
    // would try it again: remember what this process already created.
    if ctx.created_events.contains(ns, name) {
        return Ok(false);
    }
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), ns);
    ctx.metrics.write(WriteKind::Event);
    let pp = PostParams::default();
    let create = crate::runtime::writes::create::<_, crate::runtime::writes::Written<Event>>(
        &ctx.client,
        &api,
        &pp,
        event,
    );
    let sent = crate::runtime::request_slots::bookkeeping(&ctx.slots, create).await;
    let created = match sent {
        Ok(_) => true,
        Err(kube::Error::Api(s)) if s.code == 409 => false,
        Err(e) => return Err(e),
    };
    ctx.created_events.insert(ns, name);
    Ok(created)
}

/// Creates the Event, or counts one more occurrence on the one of the same name
/// (an Event series), so that a repeating failure is one Event, not one per retry.
pub async fn record_repeating(ctx: &Context, event: &Event, count: u32) -> Result<(), kube::Error> {
    if create_once(ctx, event).await? {
        return Ok(());
    }
    let (Some(ns), Some(name)) = (
        event.metadata.namespace.as_deref(),
        event.metadata.name.as_deref(),
    ) else {
        return Ok(());
    };
    let series = EventSeries {
        // The API server requires a series to count at least two occurrences.
        count: i32::try_from(count.max(2)).unwrap_or(i32::MAX),
        last_observed_time: MicroTime(jiff::Timestamp::now()),
    };
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), ns);
    ctx.metrics.write(WriteKind::Event);
    // The note of an Event is immutable: only the series moves.
    let patch = Patch::Merge(json!({ "series": series }));
    match crate::runtime::request_slots::bookkeeping(
        &ctx.slots,
        api.patch(name, &PatchParams::default(), &patch),
    )
    .await
    {
        Ok(_) => Ok(()),
        // Expired since (Events live an hour): create it again next time.
        Err(kube::Error::Api(s)) if s.code == 404 => {
            ctx.created_events.forget(ns, name);
            Ok(())
        }
        Err(e) => Err(e),
    }
}
