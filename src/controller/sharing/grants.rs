//! The grant a workspace holds on a shared workflow now, for runs, clones and
//! trigger fires. It is planned from the declared shares and the workflow as the
//! caches show them, the same plan a sync converges to: a library entry that still
//! exists (a finalizer, a deletion not yet seen) is no proof of access.

use kube::api::ObjectMeta;
use kube::runtime::reflector::ObjectRef;

use crate::error::Result;
use crate::naming;
use crate::planner::{WorkflowInputs, WorkflowKey, plan_workflow};
use crate::resources::{Access, SharedWorkflowSource, WorkflowShare};

use super::authorize;
use crate::controller::Context;

/// The access `workspace` holds on `source` now, if its grant is active: the
/// workflow exists as that same object (its UID), and a share whose author may
/// still share it grants the workspace.
pub async fn current_access(
    ctx: &Context,
    source: &SharedWorkflowSource,
    workspace: &str,
) -> Result<Option<Access>> {
    let Some(workflow) = ctx
        .stores
        .workflows
        .get(&ObjectRef::new(&source.name).within(&source.namespace))
    else {
        return Ok(None);
    };
    if workflow.metadata.uid.as_deref() != Some(source.uid.as_str()) {
        return Ok(None); // another workflow of the same name
    }
    let key = WorkflowKey {
        namespace: source.namespace.clone(),
        name: source.name.clone(),
    };
    let shares = ctx.stores.shares_of(&key);
    let refs: Vec<&WorkflowShare> = shares.iter().map(|s| s.as_ref()).collect();
    let live: Vec<&ObjectMeta> = refs
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .map(|s| &s.metadata)
        .collect();
    let creator_rbac = naming::creator_rbac_name(&key.name);
    let object = authorize::Shared::workflow(&key, &source.uid, &creator_rbac);
    let unauthorized = authorize::unauthorized(ctx, &object, &live).await?;
    // Access is what active grants give, whatever the entries: none are needed here.
    let entries = Default::default();
    let plan = plan_workflow(
        &ctx.stores.directory(),
        &WorkflowInputs {
            namespace: &key.namespace,
            name: &key.name,
            workflow: Some(workflow.as_ref()),
            shares: &refs,
            entries: &entries,
            unauthorized: &unauthorized,
        },
        "",
    );
    Ok(plan.access_of(workspace))
}
