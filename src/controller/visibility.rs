//! Projects and Triggers: who may see them, converged like a workflow's (a creator
//! grant, a reader grant, share statuses), from one generic sync.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::core::object::HasStatus;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};

use crate::error::{Error, Result};
use crate::labels;
use crate::naming;
use crate::planner::{
    ShareInput, SharedKind, Target, VisibilityPlan, creator_grant_of, plan_visibility,
};
use crate::resources::condition::now_rfc3339;
use crate::resources::{
    Project, ProjectShare, ShareScope, Trigger, TriggerShare, WorkflowShareStatus,
};

use crate::controller::sharing::authorize;
use crate::controller::sharing::rbac::{self, RbacTarget};
use crate::controller::{Context, Stores};
use crate::runtime::{Watched, status_writes};

/// A kind shared with its own share kind.
pub(crate) trait Shareable:
    Watched + Resource<Scope = k8s_openapi::NamespaceResourceScope>
{
    const KIND: SharedKind;
    type Share: Watched
        + Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + kube::core::object::HasStatus<Status = WorkflowShareStatus>;
    fn shares(stores: &Stores) -> &Store<Self::Share>;
    /// Name of the object a share names.
    fn target(share: &Self::Share) -> &str;
    fn scope(share: &Self::Share) -> &ShareScope;
}

impl Shareable for Project {
    const KIND: SharedKind = SharedKind::Project;
    type Share = ProjectShare;
    fn shares(stores: &Stores) -> &Store<ProjectShare> {
        &stores.project_shares
    }
    fn target(share: &ProjectShare) -> &str {
        &share.spec.project_ref.name
    }
    fn scope(share: &ProjectShare) -> &ShareScope {
        &share.spec.scope
    }
}

impl Shareable for Trigger {
    const KIND: SharedKind = SharedKind::Trigger;
    type Share = TriggerShare;
    fn shares(stores: &Stores) -> &Store<TriggerShare> {
        &stores.trigger_shares
    }
    fn target(share: &TriggerShare) -> &str {
        &share.spec.trigger_ref.name
    }
    fn scope(share: &TriggerShare) -> &ShareScope {
        &share.spec.scope
    }
}

/// Labels of the grants of `name` of kind `K` in `namespace`.
fn grant_labels<K: Shareable>(namespace: &str, name: &str) -> BTreeMap<String, String> {
    [
        (labels::MANAGED_BY_KEY, labels::MANAGED_BY_VALUE.to_string()),
        (labels::SOURCE_NAMESPACE, namespace.to_string()),
        (labels::SOURCE_KIND, K::kind(&()).to_string()),
        (labels::SOURCE_NAME, naming::label_value(name)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Shares in `namespace` that name `name`.
pub fn shares_of<K: Shareable>(stores: &Stores, namespace: &str, name: &str) -> Vec<Arc<K::Share>> {
    K::shares(stores)
        .state()
        .into_iter()
        .filter(|s| s.namespace().as_deref() == Some(namespace) && K::target(s) == name)
        .collect()
}

/// Converges the grants and share statuses of one object; returns the plan, whose
/// tier, creator and sharedWith the caller writes into the object's own status.
pub async fn converge<K: Shareable>(ctx: &Context, obj: &K) -> Result<VisibilityPlan> {
    let namespace = obj
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = obj.name_any();
    let shares = shares_of::<K>(&ctx.stores, &namespace, &name);
    let metas: Vec<&kube::api::ObjectMeta> = shares.iter().map(|s| s.meta()).collect();
    let resource = K::KIND.resource();
    let labels = grant_labels::<K>(&namespace, &name);
    let (readers, creator) = K::KIND.rbac_names(&name);
    let directory = ctx.stores.directory();
    // The creator's grant first: the author's right is asked of the API server next,
    // and must not be answered from a grant that should be gone.
    let creator_target = RbacTarget {
        namespace: &namespace,
        name: &creator,
        labels: labels.clone(),
        owner: crate::controller::sharing::generated::deleted_with(obj),
    };
    let creator_grant = creator_grant_of(&directory, K::KIND, &namespace, &name, obj.meta());
    rbac::converge_target(ctx, &creator_target, creator_grant.as_ref()).await?;
    // Only now may the who-may-share check see the object as existing (see `existing`).
    ctx.existing
        .converge(ctx, resource, &namespace, &name, true)
        .await?;
    let object = authorize::Shared {
        resource,
        namespace: &namespace,
        name: &name,
        uid: obj.meta().uid.as_deref().unwrap_or_default(),
        creator_rbac: &creator,
    };
    let unauthorized = authorize::unauthorized(ctx, &object, &metas).await?;
    let inputs: Vec<ShareInput<'_>> = shares
        .iter()
        .map(|s| ShareInput {
            meta: s.meta(),
            scope: K::scope(s),
            previous: s.status(),
        })
        .collect();
    let now = now_rfc3339();
    let plan = plan_visibility(
        &directory,
        &Target {
            kind: K::KIND,
            namespace: &namespace,
            name: &name,
            meta: Some(obj.meta()),
        },
        &inputs,
        &unauthorized,
        &now,
    );

    for (rbac_name, desired) in [(&readers, &plan.readers), (&creator, &plan.creator)] {
        let target = RbacTarget {
            namespace: &namespace,
            name: rbac_name,
            labels: labels.clone(),
            owner: crate::controller::sharing::generated::deleted_with(obj),
        };
        // A foreign object of the generated name is left alone; unlike a workflow's
        // shares, a project's or trigger's share status does not show it yet.
        rbac::converge_target(ctx, &target, desired.as_ref()).await?;
    }

    for share_plan in &plan.shares {
        let Some(share) = shares
            .iter()
            .find(|s| s.meta().name.as_deref() == Some(&share_plan.name))
        else {
            continue;
        };
        let api = status_writes::namespaced_api(ctx, share.as_ref())?;
        status_writes::write_if_changed(
            ctx,
            &api,
            share.as_ref(),
            crate::planner::bounded(share_plan.status.clone()),
            &now,
        )
        .await?;
    }
    Ok(plan)
}
