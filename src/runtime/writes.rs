//! Writes whose answer is read for its metadata only. The API server answers every
//! write with the whole object; the controller keeps only its resourceVersion and
//! UID (to know its own watch echoes and which entry it made). Parsing the rest — a
//! RoleBinding with a subject per member of an organization, a share's status with
//! an entry per workspace — was a tenth of the controller's CPU while a workspace
//! joined, on a machine where the API server needs that CPU.

use std::fmt::Debug;

use kube::api::{Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::{Api, Client};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A written object, as far as the controller reads it.
pub type Written<K> = PartialObjectMeta<K>;

fn request<K: kube::Resource>(api: &Api<K>) -> kube::core::Request {
    kube::core::Request::new(api.resource_url())
}

/// `Api::create`, answered as `R` (`Written<K>` for the metadata only).
pub async fn create<K, R>(
    client: &Client,
    api: &Api<K>,
    pp: &PostParams,
    body: &K,
) -> kube::Result<R>
where
    K: kube::Resource + Serialize,
    R: DeserializeOwned,
{
    let bytes = serde_json::to_vec(body).map_err(kube::Error::SerdeError)?;
    let mut req = request(api)
        .create(pp, bytes)
        .map_err(kube::Error::BuildRequest)?;
    req.extensions_mut().insert("create");
    client.request(req).await
}

/// `Api::patch`, answered as `R`.
pub async fn patch<K, P, R>(
    client: &Client,
    api: &Api<K>,
    name: &str,
    pp: &PatchParams,
    patch: &Patch<P>,
) -> kube::Result<R>
where
    K: kube::Resource,
    P: Serialize + Debug,
    R: DeserializeOwned,
{
    let mut req = request(api)
        .patch(name, pp, patch)
        .map_err(kube::Error::BuildRequest)?;
    req.extensions_mut().insert("patch");
    client.request(req).await
}

/// `Api::patch_status`, answered as `R`.
pub async fn patch_status<K, P, R>(
    client: &Client,
    api: &Api<K>,
    name: &str,
    pp: &PatchParams,
    patch: &Patch<P>,
) -> kube::Result<R>
where
    K: kube::Resource,
    P: Serialize + Debug,
    R: DeserializeOwned,
{
    let mut req = request(api)
        .patch_subresource("status", name, pp, patch)
        .map_err(kube::Error::BuildRequest)?;
    req.extensions_mut().insert("patch_status");
    client.request(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::RoleBinding;
    use kube::ResourceExt;

    #[test]
    fn the_metadata_of_a_whole_answer_is_read_and_the_rest_skipped() {
        let answer = serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {
                "name": "workflow-share.qualification-des-leads",
                "namespace": "ventes-été",
                "uid": "4f1c",
                "resourceVersion": "812",
                "managedFields": [{"manager": "workflow-share", "operation": "Apply"}],
            },
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x"},
            "subjects": [{"kind": "User", "name": "zoë"}, {"kind": "User", "name": "김민준"}],
        });
        let written: Written<RoleBinding> = serde_json::from_value(answer).unwrap();
        assert_eq!(written.resource_version().as_deref(), Some("812"));
        assert_eq!(written.uid().as_deref(), Some("4f1c"));
        assert_eq!(written.namespace().as_deref(), Some("ventes-été"));
        assert_eq!(written.name_any(), "workflow-share.qualification-des-leads");
    }
}
