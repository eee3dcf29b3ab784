//! Status writes, each skipped when the cache already shows the wanted value.

use kube::api::{Api, Patch, PatchParams};
use kube::core::object::HasStatus;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::{Error, Result};
use crate::labels;
use crate::metrics::WriteKind;
use crate::resources::condition::{Conditioned, merge_conditions};

use crate::controller::Context;
use crate::runtime::writes::{self, Written};

/// A status as wanted, before transition times are merged in.
fn fingerprint<S: serde::Serialize>(status: &S) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(status)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

/// One status write of this process: what was wanted, and the object's
/// resourceVersion just before and just after it.
pub struct WrittenStatus {
    wanted: u64,
    before: Option<String>,
    after: Option<String>,
}

/// The last status this process wrote per object (by UID), so that a sync running
/// before the store shows that write does not write the same status again.
#[derive(Default)]
pub struct WrittenStatuses(std::sync::Mutex<std::collections::HashMap<String, WrittenStatus>>);

impl WrittenStatuses {
    /// Bounded: past this many objects it starts over (a repeat is one more write).
    const LIMIT: usize = 100_000;

    /// Whether the status `wanted` was written by us over the object as the store
    /// shows it (`seen`), or is what the store shows now.
    fn covers(&self, uid: &str, wanted: u64, seen: Option<&str>) -> bool {
        let memo = self.0.lock().unwrap_or_else(|p| p.into_inner());
        memo.get(uid).is_some_and(|w| {
            w.wanted == wanted
                && seen.is_some()
                && (w.before.as_deref() == seen || w.after.as_deref() == seen)
        })
    }

    /// Whether the store still shows the object as it was before our last status
    /// write (its watch event is on its way).
    pub fn store_lags(&self, uid: &str, seen: Option<&str>) -> bool {
        let memo = self.0.lock().unwrap_or_else(|p| p.into_inner());
        memo.get(uid).is_some_and(|w| {
            seen.is_some() && w.before.as_deref() == seen && w.after.as_deref() != seen
        })
    }

    fn remember(&self, uid: String, written: WrittenStatus) {
        let mut memo = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if memo.len() >= Self::LIMIT {
            memo.clear();
        }
        memo.insert(uid, written);
    }
}

/// Every status write of this process: under the one field manager.
pub fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(labels::FIELD_MANAGER.to_string()),
        ..Default::default()
    }
}

/// The whole status as a JSON merge patch: every field the schema knows and `next`
/// leaves out is sent as null, so nothing of an earlier status survives whatever
/// the store showed. (Lists are replaced whole by a merge patch.) Our status has a
/// single writer, so server-side apply's field ownership buys nothing, and the
/// API server spends less on a merge patch (about 15% less on status updates).
fn merge_patch<S: serde::Serialize + schemars::JsonSchema + 'static>(
    status: &S,
) -> Result<serde_json::Value> {
    let mut body = serde_json::to_value(status).map_err(|source| Error::Serialize {
        action: "encode status",
        source,
    })?;
    if let Some(body) = body.as_object_mut() {
        for field in fields_of::<S>().iter() {
            body.entry(field.clone()).or_insert(serde_json::Value::Null);
        }
    }
    Ok(json!({ "status": body }))
}

/// The fields a status type's schema declares, worked out once per type.
fn fields_of<S: schemars::JsonSchema + 'static>() -> std::sync::Arc<[String]> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static FIELDS: OnceLock<Mutex<HashMap<std::any::TypeId, Arc<[String]>>>> = OnceLock::new();
    let mut known = FIELDS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    known
        .entry(std::any::TypeId::of::<S>())
        .or_insert_with(|| {
            let schema = schemars::SchemaGenerator::default().into_root_schema_for::<S>();
            schema
                .get("properties")
                .and_then(|p| p.as_object())
                .map(|fields| fields.keys().cloned().collect())
                .unwrap_or_default()
        })
        .clone()
}

/// Writes `next` as the status of `obj` (a JSON merge patch), after carrying
/// over unchanged conditions' transition times; skipped when nothing would change.
/// Returns the object as written, if it was, read as `R`: the whole object, or
/// `Written<K>` when only its metadata matters (see `writes`).
pub async fn patch_if_changed<K, R>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    next: K::Status,
    now: &str,
) -> Result<Option<R>>
where
    K: Resource<DynamicType = ()> + HasStatus + Clone + DeserializeOwned + std::fmt::Debug,
    K::Status: Conditioned + serde::Serialize + schemars::JsonSchema + 'static,
    R: Resource + DeserializeOwned,
{
    patch_status_of(ctx, api, obj, next, now, None).await
}

/// `write_if_changed` for a status that someone else also writes (the webhook
/// receiver writes deliveries into a trigger's): sent only over the object as
/// cached (its resourceVersion is a precondition), so a write in between is never
/// overwritten; the API server answers 409 Conflict instead, and the caller
/// computes the status again from the newer object.
pub async fn write_if_unchanged<K>(ctx: &Context, obj: &K, next: K::Status, now: &str) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + HasStatus
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::Status: Conditioned + serde::Serialize + schemars::JsonSchema + 'static,
{
    let api = namespaced_api(ctx, obj)?;
    let version = obj.resource_version();
    patch_status_of::<K, Written<K>>(ctx, &api, obj, next, now, version).await?;
    Ok(())
}

async fn patch_status_of<K, R>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    mut next: K::Status,
    now: &str,
    precondition: Option<String>,
) -> Result<Option<R>>
where
    K: Resource<DynamicType = ()> + HasStatus + Clone + DeserializeOwned + std::fmt::Debug,
    K::Status: Conditioned + serde::Serialize + schemars::JsonSchema + 'static,
    R: Resource + DeserializeOwned,
{
    // The store may not show our last write yet (the watch is a moment behind):
    // what was wanted then is what is wanted now, so there is nothing to write.
    let memo_key = obj.uid().map(|uid| (uid, fingerprint(&next)));
    let seen_version = obj.resource_version();
    if let Some((uid, wanted)) = &memo_key
        && ctx
            .written_statuses
            .covers(uid, *wanted, seen_version.as_deref())
    {
        return Ok(None);
    }
    let previous = obj.status().cloned().unwrap_or_default();
    let wanted = std::mem::take(next.conditions_mut());
    *next.conditions_mut() =
        merge_conditions(previous.conditions(), wanted, obj.meta().generation, now);
    if previous == next {
        return Ok(None);
    }
    ctx.metrics.write(WriteKind::Status);
    // The body is built once a slot is held (see `request_slots`).
    let written = crate::runtime::request_slots::bookkeeping(&ctx.slots, async {
        let mut body = merge_patch(&next)?;
        if let Some(version) = &precondition {
            body["metadata"] = json!({ "resourceVersion": version });
        }
        writes::patch_status::<_, _, R>(
            &ctx.client,
            api,
            &obj.name_any(),
            &params(),
            &Patch::Merge(&body),
        )
        .await
        .map_err(Error::kube("update status"))
    })
    .await?;
    if let Some((uid, wanted)) = memo_key {
        ctx.written_statuses.remember(
            uid,
            WrittenStatus {
                wanted,
                before: seen_version,
                after: written.resource_version(),
            },
        );
    }
    Ok(Some(written))
}

/// `patch_if_changed` for callers that need nothing back from the write.
pub async fn write_if_changed<K>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    next: K::Status,
    now: &str,
) -> Result<()>
where
    K: Resource<DynamicType = ()> + HasStatus + Clone + DeserializeOwned + std::fmt::Debug,
    K::Status: Conditioned + serde::Serialize + schemars::JsonSchema + 'static,
{
    patch_if_changed::<K, Written<K>>(ctx, api, obj, next, now).await?;
    Ok(())
}

pub fn namespaced_api<K>(ctx: &Context, obj: &K) -> Result<Api<K>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    let ns = obj
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    Ok(Api::namespaced(ctx.client.clone(), &ns))
}

/// `patch_if_changed` for a status whose write is an own write (see `own_writes`):
/// its watch event then wakes nothing.
pub async fn write_own<K, R>(
    ctx: &Context,
    obj: &K,
    next: K::Status,
    now: &str,
) -> Result<Option<R>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + HasStatus
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::Status: Conditioned + serde::Serialize + schemars::JsonSchema + 'static,
    R: Resource<DynamicType = ()> + DeserializeOwned,
{
    let written = patch_if_changed(ctx, &namespaced_api(ctx, obj)?, obj, next, now).await?;
    if let Some(written) = &written {
        ctx.own_writes.wrote(written);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{GrantState, WorkflowShareStatus, WorkspaceGrant};

    #[test]
    fn a_status_just_written_is_not_written_again_from_a_store_that_lags() {
        let memo = WrittenStatuses::default();
        memo.remember(
            "uid-1".into(),
            WrittenStatus {
                wanted: 7,
                before: Some("41".into()),
                after: Some("42".into()),
            },
        );
        assert!(
            memo.covers("uid-1", 7, Some("41")),
            "store still before our write"
        );
        assert!(memo.covers("uid-1", 7, Some("42")), "store shows our write");
        assert!(
            !memo.covers("uid-1", 7, Some("43")),
            "changed since (by someone else): compare afresh"
        );
        assert!(
            !memo.covers("uid-1", 8, Some("41")),
            "another status is wanted"
        );
        assert!(!memo.covers("uid-2", 7, Some("41")), "another object");
        assert!(!memo.covers("uid-1", 7, None));
        assert!(
            memo.store_lags("uid-1", Some("41")),
            "store before our write"
        );
        assert!(!memo.store_lags("uid-1", Some("42")), "store caught up");
        assert!(!memo.store_lags("uid-1", Some("43")), "store moved on");
        assert!(!memo.store_lags("uid-2", Some("41")), "never written");
    }

    #[test]
    fn a_status_patch_clears_every_field_it_leaves_out() {
        let status = WorkflowShareStatus {
            active_grants: 1,
            grants: vec![WorkspaceGrant {
                workspace: "équipe-données".into(),
                state: GrantState::Active,
                ..Default::default()
            }],
            ..Default::default()
        };
        let body = merge_patch(&status).unwrap();
        let sent = body["status"].as_object().unwrap();
        assert_eq!(sent["activeGrants"], 1);
        assert_eq!(sent["grants"][0]["workspace"], "équipe-données");
        // A merge patch keeps what it does not mention: each absent field is null.
        for field in ["observedGeneration", "conditions", "people", "sharedBy"] {
            assert!(sent.get(field).is_some_and(|v| v.is_null()), "{field}");
        }
    }
}
