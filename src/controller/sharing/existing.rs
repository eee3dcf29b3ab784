//! The names of each workspace's workflows, projects and triggers that exist, granted
//! for the who-may-share admission check to ask about (see the planner's `existing`).
//!
//! An object's sync lists its name only after writing its creator's grant, so that
//! once the check sees an object as existing, its creator may already share it: a
//! creator's object and share applied together are accepted in either order. The
//! name leaves the list when the object is gone.

use kube::runtime::reflector::ObjectRef;

use crate::error::Result;
use crate::planner::{existing_names_grant, plan_existing};

use super::listed::{ListSpec, Lists};
use super::rbac::RbacTarget;
use super::readers::list_labels;
use crate::controller::Context;

/// The lists of every workspace this controller has synced an object of.
pub struct ExistingNames {
    lists: Lists,
    /// Where the identity the check asks as lives: the controller's own namespace.
    controller_namespace: String,
}

impl ExistingNames {
    pub fn new(controller_namespace: String) -> Self {
        Self {
            lists: Lists::default(),
            controller_namespace,
        }
    }

    /// Records whether the object `name` of `resource` (workflows, projects or
    /// triggers) in `namespace` exists, and returns once the cluster's grant agrees.
    pub async fn converge(
        &self,
        ctx: &Context,
        resource: &'static str,
        namespace: &str,
        name: &str,
        exists: bool,
    ) -> Result<bool> {
        let grant = existing_names_grant(resource);
        let in_store = |n: &str| exists_in_store(ctx, resource, namespace, n);
        let plan = |_: &crate::planner::Directory, names: Vec<&str>| {
            plan_existing(resource, names, &self.controller_namespace)
        };
        let spec = ListSpec {
            target: RbacTarget {
                namespace,
                name: &grant,
                labels: list_labels(namespace),
                owner: None,
            },
            exists: &in_store,
            plan: &plan,
        };
        self.lists.converge(ctx, &spec, name, exists).await
    }

    /// Takes out of the lists the objects that are gone (deleted while no replica
    /// led, or projects and triggers, whose syncs do not run when they go).
    pub async fn forget_gone(&self, ctx: &Context) -> Result<()> {
        for resource in ["workflows", "projects", "triggers"] {
            let grant = existing_names_grant(resource);
            for role in ctx.stores.roles.state() {
                if role.metadata.name.as_deref() != Some(grant.as_str()) {
                    continue;
                }
                let Some(namespace) = role.metadata.namespace.as_deref() else {
                    continue;
                };
                let gone: Vec<&String> = role
                    .rules
                    .iter()
                    .flatten()
                    .flat_map(|r| r.resource_names.iter().flatten())
                    .filter(|n| !exists_in_store(ctx, resource, namespace, n))
                    .collect();
                for name in gone {
                    self.converge(ctx, resource, namespace, name, false).await?;
                }
            }
        }
        Ok(())
    }
}

/// Whether the stores hold `name` of `resource` in `namespace`.
fn exists_in_store(ctx: &Context, resource: &str, namespace: &str, name: &str) -> bool {
    match resource {
        "workflows" => ctx
            .stores
            .workflows
            .get(&ObjectRef::new(name).within(namespace))
            .is_some(),
        "projects" => ctx
            .stores
            .projects
            .get(&ObjectRef::new(name).within(namespace))
            .is_some(),
        "triggers" => ctx
            .stores
            .triggers
            .get(&ObjectRef::new(name).within(namespace))
            .is_some(),
        _ => false,
    }
}
