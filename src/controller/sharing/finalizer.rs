//! The finalizer every WorkflowShare holds from its creation until its grants are
//! gone: a share deleted while the controller is away still has its access removed
//! before it disappears.

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::controller::Context;
use crate::error::{Error, Result};
use crate::labels;
use crate::metrics::WriteKind;
use crate::resources::WorkflowShare;

/// Adds or removes our finalizer on a share. JSON patch with a `test` on the
/// current list, so a concurrent change by someone else fails instead of being lost.
/// Returns the share as patched, if it was.
pub async fn set(
    ctx: &Context,
    share: &WorkflowShare,
    present: bool,
) -> Result<Option<WorkflowShare>> {
    let current = share.finalizers().to_vec();
    let has = current.iter().any(|f| f == labels::FINALIZER);
    if has == present {
        return Ok(None);
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
        Ok(patched) => {
            ctx.own_writes.wrote(&patched);
            Ok(Some(patched))
        }
        Err(kube::Error::Api(s)) if s.code == 404 && !present => Ok(None),
        Err(e) => Err(Error::kube("update WorkflowShare finalizers")(e)),
    }
}
