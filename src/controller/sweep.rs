//! What the controller made for an object that is gone goes as soon as the object
//! does, removed by the controller itself. Our grants name their object as owner, so
//! the garbage collector removes them too, but only where a controller-manager runs
//! and once it catches up; until then a deleted object's creator and readers would
//! keep rights on whatever is created next under its name.
//!
//! Level-triggered: a sweep compares the grants we keep (our Roles and RoleBindings)
//! with the objects that exist, whenever one is deleted, when this replica starts
//! leading, and every few minutes. A deleted workflow is synced instead, which also
//! takes it out of its workspace's organization readers grant and removes its
//! library entries.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::labels;
use crate::metrics::WriteKind;
use crate::naming;
use crate::planner::WorkflowKey;

use crate::controller::Context;

/// Longest wait between sweeps when nothing is deleted.
const RESWEEP: Duration = Duration::from_secs(300);
/// How often the sweep asks whether a cache has listed, at start.
const READY_POLL: Duration = Duration::from_millis(100);
/// Deletions arriving together (a namespace emptied) are swept once.
const GATHER: Duration = Duration::from_millis(100);

/// Wakes the sweep: a workflow, project, trigger or organization was deleted.
#[derive(Default)]
pub struct Sweeper {
    wake: tokio::sync::Notify,
    workflows: Mutex<BTreeSet<WorkflowKey>>,
}

impl Sweeper {
    /// Something may be gone: sweep soon.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// `poke` on a watch event that deletes.
    pub fn poke_on_delete<K>(&self, event: &kube::runtime::watcher::Event<K>) {
        if matches!(event, kube::runtime::watcher::Event::Delete(_)) {
            self.poke();
        }
    }

    /// The workflow `key` is gone: sync it (its grants, entries and place in the
    /// organization readers grant go) and sweep.
    pub fn workflow_gone(&self, key: WorkflowKey) {
        self.workflows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
        self.wake.notify_one();
    }

    fn take_workflows(&self) -> BTreeSet<WorkflowKey> {
        std::mem::take(&mut *self.workflows.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// What one of our Roles or RoleBindings was made for, from its name and labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MadeFor {
    /// A workflow's creator or readers grant: its namespace and name label value.
    Workflow { namespace: String, label: String },
    /// A project's or trigger's grant: kind, namespace and name label value.
    Object {
        kind: String,
        namespace: String,
        label: String,
    },
    /// An organization's auditor or coordinator binding (the organization's label value).
    Organization(String),
    /// The organization readers grant of a workspace (its workflows are checked one by one).
    OrganizationReaders,
    /// Nothing the sweep judges.
    Other,
}

/// What `meta` (one of ours) was made for.
pub fn made_for(meta: &kube::api::ObjectMeta) -> MadeFor {
    let Some(l) = meta.labels.as_ref() else {
        return MadeFor::Other;
    };
    if l.get(labels::MANAGED_BY_KEY).map(String::as_str) != Some(labels::MANAGED_BY_VALUE) {
        return MadeFor::Other;
    }
    if let Some(org) = l.get(labels::ORGANIZATION_GRANT) {
        return MadeFor::Organization(org.clone());
    }
    if meta.name.as_deref() == Some(naming::organization_readers_name().as_str()) {
        return MadeFor::OrganizationReaders;
    }
    let namespace = meta.namespace.clone().unwrap_or_default();
    match (
        l.get(labels::SOURCE_WORKFLOW),
        l.get(labels::SOURCE_KIND),
        l.get(labels::SOURCE_NAME),
    ) {
        (Some(label), _, _) => MadeFor::Workflow {
            namespace,
            label: label.clone(),
        },
        (None, Some(kind), Some(label)) => MadeFor::Object {
            kind: kind.clone(),
            namespace,
            label: label.clone(),
        },
        _ => MadeFor::Other,
    }
}

/// The objects that exist, as `(kind, namespace, name label value)`, and organizations
/// by label value.
#[derive(Default)]
pub struct Existing {
    pub objects: HashSet<(String, String, String)>,
    pub organizations: HashSet<String>,
}

impl Existing {
    fn add<K: Resource<DynamicType = ()>>(&mut self, obj: &K) {
        self.objects.insert((
            K::kind(&()).to_string(),
            obj.meta().namespace.clone().unwrap_or_default(),
            naming::label_value(obj.meta().name.as_deref().unwrap_or_default()),
        ));
    }

    /// Whether what `made_for` names is gone (`Other` and readers grants never are).
    pub fn is_gone(&self, made_for: &MadeFor) -> bool {
        let has = |kind: &str, namespace: &str, label: &str| {
            self.objects
                .contains(&(kind.to_string(), namespace.to_string(), label.to_string()))
        };
        match made_for {
            MadeFor::Workflow { namespace, label } => !has("Workflow", namespace, label),
            MadeFor::Object {
                kind,
                namespace,
                label,
            } => !has(kind, namespace, label),
            MadeFor::Organization(label) => !self.organizations.contains(label),
            MadeFor::OrganizationReaders | MadeFor::Other => false,
        }
    }
}

/// Sweeps until the task is dropped.
pub async fn run(ctx: std::sync::Arc<Context>, sweeper: std::sync::Arc<Sweeper>) {
    // Projects and triggers are cached by their own controllers' watches: until those
    // have listed once, every project and trigger would look deleted.
    if !(listed_once(&ctx.stores.projects).await && listed_once(&ctx.stores.triggers).await) {
        return; // a watch is gone: the controller is stopping
    }
    loop {
        for key in sweeper.take_workflows() {
            let workflow = ObjectRef::new(&key.name).within(&key.namespace);
            if ctx.stores.workflows.get(&workflow).is_some() {
                continue; // created again meanwhile: its own sync takes it from here
            }
            if let Err(error) = crate::controller::sharing::sync::sync_workflow(&ctx, &key).await {
                warn!(%error, namespace = %key.namespace, workflow = %key.name, "could not clean up after a deleted workflow");
            }
        }
        if let Err(error) = sweep(&ctx).await {
            warn!(%error, "could not remove the grants of deleted objects; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        tokio::select! {
            _ = sweeper.wake.notified() => tokio::time::sleep(GATHER).await,
            _ = tokio::time::sleep(RESWEEP) => {}
        }
    }
}

/// Waits until `store` has listed once; false if its watch is gone. Asked again every
/// 100 ms: kube's readiness signal wakes only the latest of its waiters, and the
/// store's Controller waits on it too.
async fn listed_once<K: Resource<DynamicType = ()> + Clone>(store: &Store<K>) -> bool {
    loop {
        if let Ok(listed) = tokio::time::timeout(READY_POLL, store.wait_until_ready()).await {
            return listed.is_ok();
        }
    }
}

/// Removes our Roles and RoleBindings whose object is gone, and syncs the deleted
/// workflows an organization readers grant still lists.
async fn sweep(ctx: &Context) -> Result<()> {
    let mut existing = Existing::default();
    for w in ctx.stores.workflows.state() {
        existing.add(w.as_ref());
    }
    for p in ctx.stores.projects.state() {
        existing.add(p.as_ref());
    }
    for t in ctx.stores.triggers.state() {
        existing.add(t.as_ref());
    }
    for o in ctx.stores.organizations.state() {
        existing
            .organizations
            .insert(naming::label_value(&o.name_any()));
    }
    let mut listed_but_gone: BTreeSet<WorkflowKey> = BTreeSet::new();
    for role in ctx.stores.roles.state() {
        let made_for = made_for(&role.metadata);
        if made_for == MadeFor::OrganizationReaders {
            let namespace = role.namespace().unwrap_or_default();
            for name in role
                .rules
                .iter()
                .flatten()
                .flat_map(|r| r.resource_names.iter().flatten())
            {
                let label = naming::label_value(name);
                if existing.is_gone(&MadeFor::Workflow {
                    namespace: namespace.clone(),
                    label,
                }) {
                    listed_but_gone.insert(WorkflowKey {
                        namespace: namespace.clone(),
                        name: name.clone(),
                    });
                }
            }
        } else if existing.is_gone(&made_for) {
            delete::<Role>(ctx, &role.metadata).await?;
        }
    }
    for binding in ctx.stores.role_bindings.state() {
        if existing.is_gone(&made_for(&binding.metadata)) {
            delete::<RoleBinding>(ctx, &binding.metadata).await?;
        }
    }
    for key in listed_but_gone {
        crate::controller::sharing::sync::sync_workflow(ctx, &key).await?;
    }
    ctx.existing.forget_gone(ctx).await
}

/// Deletes one of our Roles or RoleBindings, if it is still there.
async fn delete<K>(ctx: &Context, meta: &kube::api::ObjectMeta) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let (Some(namespace), Some(name)) = (meta.namespace.as_deref(), meta.name.as_deref()) else {
        return Ok(());
    };
    info!(kind = %K::kind(&()), %namespace, %name, "removing the grant of a deleted object");
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    ctx.metrics.write(if K::kind(&()) == "Role" {
        WriteKind::Role
    } else {
        WriteKind::RoleBinding
    });
    // Only that very object: if it was made again meanwhile, it stays.
    let params = DeleteParams {
        preconditions: meta.uid.clone().map(|uid| kube::api::Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(Error::kube("delete the grant of a deleted object")(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ours(name: &str, labels: &[(&str, &str)]) -> kube::api::ObjectMeta {
        let mut l: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.insert(
            labels::MANAGED_BY_KEY.to_string(),
            labels::MANAGED_BY_VALUE.to_string(),
        );
        kube::api::ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ventes".into()),
            labels: Some(l),
            ..Default::default()
        }
    }

    #[test]
    fn grants_are_judged_by_the_object_they_were_made_for() {
        let mut existing = Existing::default();
        existing
            .objects
            .insert(("Workflow".into(), "ventes".into(), "qualification-✓".into()));
        existing
            .objects
            .insert(("Project".into(), "ventes".into(), "feuille".into()));
        existing.organizations.insert("acme".into());

        let of_workflow = |wf: &str| {
            made_for(&ours(
                "workflow-share-creator.x",
                &[
                    (labels::SOURCE_NAMESPACE, "ventes"),
                    (labels::SOURCE_WORKFLOW, wf),
                ],
            ))
        };
        assert!(!existing.is_gone(&of_workflow("qualification-✓")));
        assert!(existing.is_gone(&of_workflow("supprimé")));

        let of_object = |kind: &str, name: &str| {
            made_for(&ours(
                "workflow-share-project-creator.x",
                &[
                    (labels::SOURCE_NAMESPACE, "ventes"),
                    (labels::SOURCE_KIND, kind),
                    (labels::SOURCE_NAME, name),
                ],
            ))
        };
        assert!(!existing.is_gone(&of_object("Project", "feuille")));
        assert!(
            existing.is_gone(&of_object("Trigger", "feuille")),
            "kind matters"
        );

        let of_org = |org: &str| made_for(&ours("auditor.x", &[(labels::ORGANIZATION_GRANT, org)]));
        assert!(!existing.is_gone(&of_org("acme")));
        assert!(existing.is_gone(&of_org("deleted-org")));

        let readers = made_for(&ours(
            &naming::organization_readers_name(),
            &[(labels::SOURCE_NAMESPACE, "ventes")],
        ));
        assert_eq!(readers, MadeFor::OrganizationReaders);
        assert!(!existing.is_gone(&readers), "checked workflow by workflow");
    }

    #[test]
    fn objects_not_marked_ours_are_never_judged() {
        let mut meta = ours("x", &[(labels::ORGANIZATION_GRANT, "gone")]);
        meta.labels
            .as_mut()
            .map(|l| l.remove(labels::MANAGED_BY_KEY));
        assert_eq!(made_for(&meta), MadeFor::Other);
        assert!(!Existing::default().is_gone(&made_for(&meta)));
    }
}
