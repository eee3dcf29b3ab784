//! Status and finalizer writes, each skipped when the store already shows the wanted value.

use kube::api::{Api, Patch, PatchParams};
use kube::core::object::HasStatus;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::{Error, Result};
use crate::labels;
use crate::metrics::WriteKind;
use crate::resources::condition::{Conditioned, merge_conditions};
use crate::resources::{
    GROUP, VERSION, Workflow, WorkflowClone, WorkflowCloneStatus, WorkflowShare,
    WorkflowShareStatus, WorkflowStatus,
};

use super::Context;

fn params() -> PatchParams {
    PatchParams::apply(labels::FIELD_MANAGER).force()
}

/// Writes `next` as the status of `obj` with server-side apply, after carrying
/// over unchanged conditions' transition times; skipped when nothing would change.
pub async fn apply_if_changed<K>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    mut next: K::Status,
    now: &str,
) -> Result<()>
where
    K: Resource<DynamicType = ()> + HasStatus + Clone + DeserializeOwned + std::fmt::Debug,
    K::Status: Conditioned,
{
    let previous = obj.status().cloned().unwrap_or_default();
    let wanted = std::mem::take(next.conditions_mut());
    *next.conditions_mut() =
        merge_conditions(previous.conditions(), wanted, obj.meta().generation, now);
    if previous == next {
        return Ok(());
    }
    let body =
        json!({ "apiVersion": format!("{GROUP}/{VERSION}"), "kind": K::kind(&()), "status": next });
    ctx.metrics.write(WriteKind::Status);
    api.patch_status(&obj.name_any(), &params(), &Patch::Apply(&body))
        .await
        .map_err(Error::kube("update status"))?;
    Ok(())
}

pub(super) fn namespaced_api<K>(ctx: &Context, obj: &K) -> Result<Api<K>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    let ns = obj
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    Ok(Api::namespaced(ctx.client.clone(), &ns))
}

pub async fn share(
    ctx: &Context,
    share: &WorkflowShare,
    next: WorkflowShareStatus,
    now: &str,
) -> Result<()> {
    apply_if_changed(ctx, &namespaced_api(ctx, share)?, share, next, now).await
}

pub async fn workflow(ctx: &Context, wf: &Workflow, next: WorkflowStatus, now: &str) -> Result<()> {
    apply_if_changed(ctx, &namespaced_api(ctx, wf)?, wf, next, now).await
}

pub async fn clone(
    ctx: &Context,
    clone: &WorkflowClone,
    next: WorkflowCloneStatus,
    now: &str,
) -> Result<()> {
    apply_if_changed(ctx, &namespaced_api(ctx, clone)?, clone, next, now).await
}

/// Adds or removes our finalizer on a share. JSON patch with a `test` on the
/// current list, so a concurrent change by someone else fails instead of being lost.
pub async fn share_finalizer(ctx: &Context, share: &WorkflowShare, present: bool) -> Result<()> {
    let current = share.finalizers().to_vec();
    let has = current.iter().any(|f| f == labels::FINALIZER);
    if has == present {
        return Ok(());
    }
    let ns = share
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<WorkflowShare> = Api::namespaced(ctx.client.clone(), &ns);
    let next: Vec<String> = if present {
        current
            .iter()
            .cloned()
            .chain([labels::FINALIZER.to_string()])
            .collect()
    } else {
        current
            .iter()
            .filter(|f| *f != labels::FINALIZER)
            .cloned()
            .collect()
    };
    let ops = if share.metadata.finalizers.is_some() {
        json!([
            { "op": "test", "path": "/metadata/finalizers", "value": current },
            { "op": "replace", "path": "/metadata/finalizers", "value": next },
        ])
    } else {
        json!([{ "op": "add", "path": "/metadata/finalizers", "value": next }])
    };
    let patch: json_patch::Patch =
        serde_json::from_value(ops).map_err(|source| Error::Serialize {
            action: "encode finalizer patch",
            source,
        })?;
    ctx.metrics.write(WriteKind::Finalizer);
    match api
        .patch(
            &share.name_any(),
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 && !present => Ok(()),
        Err(e) => Err(Error::kube("update WorkflowShare finalizers")(e)),
    }
}
