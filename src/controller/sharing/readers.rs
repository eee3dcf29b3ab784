//! The organization readers grant of each owner workspace: one Role listing the
//! workspace's organization-readable workflows and one RoleBinding of every member
//! of its organization (see the planner's `plan_organization_readers`), kept as a
//! list (see `listed`).

use std::collections::BTreeMap;

use kube::runtime::reflector::ObjectRef;

use crate::error::Result;
use crate::labels;
use crate::naming;
use crate::planner::plan_organization_readers;

use super::listed::{ListSpec, Lists};
use super::rbac::RbacTarget;
use crate::controller::Context;

/// The grants of every owner workspace this controller has synced a workflow of.
#[derive(Default)]
pub struct OrganizationReaders(Lists);

/// Labels of a workspace's list grants: ours, for this workspace (and no one object).
pub fn list_labels(namespace: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::MANAGED_BY_KEY.to_string(),
            labels::MANAGED_BY_VALUE.to_string(),
        ),
        (labels::SOURCE_NAMESPACE.to_string(), namespace.to_string()),
    ])
}

impl OrganizationReaders {
    /// Records whether `workflow` of `namespace` is organization-readable and returns
    /// once the cluster's grant agrees. False when an object we do not own holds the
    /// grant's name (nothing is written then).
    pub async fn converge(
        &self,
        ctx: &Context,
        namespace: &str,
        workflow: &str,
        readable: bool,
    ) -> Result<bool> {
        let name = naming::organization_readers_name();
        let exists = |wf: &str| {
            ctx.stores
                .workflows
                .get(&ObjectRef::new(wf).within(namespace))
                .is_some()
        };
        let plan = |directory: &crate::planner::Directory, workflows: Vec<&str>| {
            plan_organization_readers(directory, namespace, workflows)
        };
        let spec = ListSpec {
            target: RbacTarget {
                namespace,
                name: &name,
                labels: list_labels(namespace),
                owner: None,
            },
            exists: &exists,
            plan: &plan,
        };
        self.0.converge(ctx, &spec, workflow, readable).await
    }
}
