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
use kube::api::{Api, PostParams};

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
    let mut out = BTreeSet::new();
    for share in shares {
        let annotations = share.metadata.annotations.clone().unwrap_or_default();
        let (Some(name), Some(author)) = (
            share.metadata.name.clone(),
            annotations.get(labels::CREATED_BY),
        ) else {
            continue;
        };
        let groups: Vec<String> = annotations
            .get(labels::CREATED_BY_GROUPS)
            .map(|g| {
                g.lines()
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        if !may_share(ctx, key, author, groups).await? {
            out.insert(name);
        }
    }
    Ok(out)
}

async fn may_share(
    ctx: &Context,
    key: &WorkflowKey,
    user: &str,
    groups: Vec<String>,
) -> Result<bool> {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_string()),
            groups: Some(groups),
            resource_attributes: Some(ResourceAttributes {
                group: Some(GROUP.to_string()),
                resource: Some("workflows".to_string()),
                namespace: Some(key.namespace.clone()),
                name: Some(key.name.clone()),
                verb: Some(SHARE_VERB.to_string()),
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
        .map_err(Error::kube("ask whether the author of a share may share"))?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}
