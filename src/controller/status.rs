//! Status and finalizer writes, each skipped when the store already shows the wanted value.

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::error::{Error, Result};
use crate::labels;
use crate::resources::{
    GROUP, VERSION, Workflow, WorkflowShare, WorkflowShareStatus, WorkflowStatus,
    condition::merge_conditions,
};

use super::Context;

fn params() -> PatchParams {
    PatchParams::apply(labels::FIELD_MANAGER).force()
}

/// Writes `status` of a namespaced object of ours with server-side apply.
async fn apply_status<K>(
    ctx: &Context,
    obj: &K,
    status: impl serde::Serialize,
    action: &'static str,
) -> Result<()>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let ns = obj
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let body = json!({ "apiVersion": format!("{GROUP}/{VERSION}"), "kind": K::kind(&()), "status": status });
    ctx.metrics.write("Status");
    api.patch_status(&obj.name_any(), &params(), &Patch::Apply(&body))
        .await
        .map_err(Error::kube(action))?;
    Ok(())
}

pub async fn share(
    ctx: &Context,
    share: &WorkflowShare,
    mut next: WorkflowShareStatus,
    now: &str,
) -> Result<()> {
    let previous = share.status.clone().unwrap_or_default();
    next.conditions = merge_conditions(
        &previous.conditions,
        next.conditions,
        share.metadata.generation,
        now,
    );
    if previous == next {
        return Ok(());
    }
    apply_status(ctx, share, next, "update WorkflowShare status").await
}

pub async fn workflow(
    ctx: &Context,
    wf: &Workflow,
    mut next: WorkflowStatus,
    now: &str,
) -> Result<()> {
    let previous = wf.status.clone().unwrap_or_default();
    next.conditions = merge_conditions(
        &previous.conditions,
        next.conditions,
        wf.metadata.generation,
        now,
    );
    if previous == next {
        return Ok(());
    }
    apply_status(ctx, wf, next, "update Workflow status").await
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
    ctx.metrics.write("Finalizer");
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
