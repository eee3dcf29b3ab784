//! Whether the author of a share may (still) share its workflow. Admission checks it
//! when the share is written; this checks it on every sync, so a share stops granting
//! when its author loses the right (left the workspace, the organization reserved
//! sharing, a coordinator was taken off the list). The API server answers, with a
//! SubjectAccessReview for the author's stamped name and groups: the same RBAC that
//! admission consults, including ClusterRoleBindings the controller does not watch.

use std::collections::BTreeSet;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, ObjectMeta, PostParams};

use crate::error::{Error, Result};
use crate::labels;
use crate::planner::{SHARE_VERB, WorkflowKey};
use crate::resources::{GROUP, WorkflowShare};

use super::Context;

/// Names of the shares among `shares` whose author may not share `key`'s workflow.
/// Shares without a stamped author (made before the stamp existed) are not judged.
pub async fn unauthorized_shares(
    ctx: &Context,
    key: &WorkflowKey,
    shares: &[&WorkflowShare],
) -> Result<BTreeSet<String>> {
    let metas: Vec<&ObjectMeta> = shares.iter().map(|s| &s.metadata).collect();
    unauthorized(ctx, "workflows", &key.namespace, &key.name, &metas).await
}

/// Like `unauthorized_shares`, for shares (their metadata) of any object: `resource`
/// (plural) `name` in `namespace`.
pub async fn unauthorized(
    ctx: &Context,
    resource: &str,
    namespace: &str,
    object: &str,
    shares: &[&ObjectMeta],
) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for meta in shares {
        let (Some(name), Some((author, groups))) = (meta.name.clone(), stamped_creator(meta))
        else {
            continue;
        };
        if !may(
            ctx, SHARE_VERB, resource, namespace, object, &author, groups,
        )
        .await?
        {
            out.insert(name);
        }
    }
    Ok(out)
}

/// Whether `user` (with `groups`) may `verb` the `resource` `object` in `namespace`
/// (any object of it when `object` is empty).
pub async fn may(
    ctx: &Context,
    verb: &str,
    resource: &str,
    namespace: &str,
    object: &str,
    user: &str,
    groups: Vec<String>,
) -> Result<bool> {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_string()),
            groups: Some(groups),
            resource_attributes: Some(ResourceAttributes {
                group: Some(GROUP.to_string()),
                resource: Some(resource.to_string()),
                namespace: Some(namespace.to_string()),
                name: (!object.is_empty()).then(|| object.to_string()),
                verb: Some(verb.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(ctx.client.clone());
    let answer = api
        .create(&PostParams::default(), &review)
        .await
        .map_err(Error::kube("ask the API server whether a user may act"))?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// The creator stamped on an object and their groups (one per line in the stamp).
pub fn stamped_creator(meta: &ObjectMeta) -> Option<(String, Vec<String>)> {
    let annotations = meta.annotations.as_ref()?;
    let user = annotations.get(labels::CREATED_BY)?.clone();
    let groups = annotations
        .get(labels::CREATED_BY_GROUPS)
        .map(|g| {
            g.lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Some((user, groups))
}
