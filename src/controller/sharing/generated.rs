//! What every object the controller generates for a source carries: the labels
//! that say whose it is, the owner reference that deletes it with its source, and
//! the one field manager of all our writes.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use kube::api::{PatchParams, PostParams};

use crate::error::{Error, Result};
use crate::labels;
use crate::naming;
use crate::planner::WorkflowKey;

/// Labels on every object generated for one source workflow.
pub fn source_labels(key: &WorkflowKey) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::MANAGED_BY_KEY.to_string(),
            labels::MANAGED_BY_VALUE.to_string(),
        ),
        (labels::SOURCE_NAMESPACE.to_string(), key.namespace.clone()),
        (
            labels::SOURCE_WORKFLOW.to_string(),
            naming::label_value(&key.name),
        ),
    ])
}

/// An owner reference that has the garbage collector delete our object with `owner`
/// without blocking the owner's deletion. Without blockOwnerDeletion the controller
/// needs no `update` on the owner's finalizers subresource (clusters that enable
/// the OwnerReferencesPermissionEnforcement admission plugin would ask for it).
pub fn deleted_with<K: Resource<DynamicType = ()>>(owner: &K) -> Option<OwnerReference> {
    owner.controller_owner_ref(&()).map(|mut o| {
        o.block_owner_deletion = None;
        o
    })
}

/// Whether `meta` carries all of `wanted` labels (the object is ours, for this source).
pub(super) fn has_labels<R: Resource>(obj: &R, wanted: &BTreeMap<String, String>) -> bool {
    let have = obj.meta().labels.as_ref();
    wanted
        .iter()
        .all(|(k, v)| have.and_then(|l| l.get(k)) == Some(v))
}

pub(super) fn params() -> PatchParams {
    PatchParams::apply(labels::FIELD_MANAGER).force()
}

/// Creates carry the same field manager as our applies.
pub(super) fn create_params() -> PostParams {
    PostParams {
        field_manager: Some(labels::FIELD_MANAGER.to_string()),
        ..Default::default()
    }
}

pub(super) fn ignore_not_found<T>(res: Result<T, kube::Error>, action: &'static str) -> Result<()> {
    match res {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(action)(e)),
    }
}
