//! The objects the tests send, built as the crate's own types (and k8s-openapi's), and
//! server-side applied as the user of a client.
//!
//! A builder sends only the fields the test set: fields its type would write at their
//! defaults anyway (`archived: false`, `access: View`, ...) are left out, so server-side
//! apply makes the tests' field manager own only what the test asked for.

use std::ops::AddAssign;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject, ObjectMeta, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::{Client, Resource};
use serde::Serialize;
use serde_json::Value;
use workflow_share::resources::organization::Subject as OrganizationSubject;
use workflow_share::resources::project::{ProjectDocument, TeamMember};
use workflow_share::resources::workflow::{Deidentification, WorkflowStep};
use workflow_share::resources::{
    Access, LocalObjectRef, Organization, OrganizationSpec, Project, ProjectShare,
    ProjectShareSpec, ProjectSpec, RunnableKind, RunnableRef, Schedule, SharedWorkflow,
    SharedWorkflowRef, SharedWorkflowSource, SharedWorkflowSpec, Trigger, TriggerShare,
    TriggerShareSpec, TriggerSpec, TriggerType, Workflow, WorkflowClone, WorkflowCloneSpec,
    WorkflowRef, WorkflowRun, WorkflowRunSpec, WorkflowShare, WorkflowShareSpec, WorkflowSpec,
};

/// The field manager of everything the tests apply.
pub const FIELD_MANAGER: &str = "workflow-share-tests";

/// The label that makes a namespace a workspace of an organization.
pub const ORGANIZATION_LABEL: &str = "sharing.workflows.dev/organization";

const RBAC: &str = "rbac.authorization.k8s.io";

/// One object as it is sent: the API of its kind and its fields as JSON.
#[derive(Clone, Debug)]
pub struct Object {
    resource: ApiResource,
    value: Value,
}

impl Object {
    fn of<K: Resource<DynamicType = ()> + Serialize>(object: &K) -> Self {
        Object {
            resource: ApiResource::erase::<K>(&()),
            value: serde_json::to_value(object).expect("a serializable object"),
        }
    }

    /// The object as sent.
    pub fn value(&self) -> &Value {
        &self.value
    }

    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }

    fn api(&self, client: &Client) -> Api<DynamicObject> {
        match self.value["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &self.resource),
            None => Api::all_with(client.clone(), &self.resource),
        }
    }
}

/// What the tests send: a builder, several objects in order, or any typed object.
pub trait Manifest {
    /// The objects, in the order they are applied.
    fn objects(&self) -> Vec<Object>;

    /// These objects, then `next`'s.
    fn and(self, next: impl Manifest) -> Objects
    where
        Self: Sized,
    {
        let mut all = Objects::of(self);
        all += next;
        all
    }
}

/// Any typed object, every field as its type serializes it.
impl<K: Resource<DynamicType = ()> + Serialize> Manifest for K {
    fn objects(&self) -> Vec<Object> {
        vec![Object::of(self)]
    }
}

/// Objects of any kinds, applied in the order they were added.
#[derive(Clone, Debug, Default)]
pub struct Objects(Vec<Object>);

impl Objects {
    /// The objects of `manifest`, to add more to.
    pub fn of(manifest: impl Manifest) -> Self {
        Objects(manifest.objects())
    }
}

impl Manifest for Objects {
    fn objects(&self) -> Vec<Object> {
        self.0.clone()
    }
}

impl<M: Manifest> AddAssign<M> for Objects {
    fn add_assign(&mut self, more: M) {
        self.0.extend(more.objects());
    }
}

/// Server-side applies every object of `manifest`, in order, as the user of `client`
/// with the tests' field manager, forced; stops at the first refusal and returns it.
pub async fn apply(client: &Client, manifest: &impl Manifest) -> Result<(), kube::Error> {
    apply_with(client, &PatchParams::apply(FIELD_MANAGER).force(), manifest).await
}

/// `apply` with other patch parameters: another field manager, or no force.
pub async fn apply_with(
    client: &Client,
    params: &PatchParams,
    manifest: &impl Manifest,
) -> Result<(), kube::Error> {
    for object in manifest.objects() {
        object
            .api(client)
            .patch(object.name(), params, &Patch::Apply(&object.value))
            .await?;
    }
    Ok(())
}

/// The objects as a multi-document YAML stream, for the commands that read files.
pub fn to_yaml(manifest: &impl Manifest) -> String {
    manifest
        .objects()
        .iter()
        .map(|o| serde_yaml::to_string(&o.value).expect("YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The one object of `manifest`, untyped (for a request of a kind chosen at run time).
pub fn to_dynamic(manifest: &impl Manifest) -> DynamicObject {
    let [object] = <[Object; 1]>::try_from(manifest.objects()).expect("one object");
    serde_json::from_value(object.value).expect("an object")
}

/// A typed object being built, with the fields its type writes at their defaults that
/// the test has not set (JSON pointers): those are left out when it is sent.
#[derive(Clone, Debug)]
pub struct Builder<K> {
    object: K,
    unset: Vec<&'static str>,
}

impl<K> Builder<K> {
    fn new(object: K, unset: &[&'static str]) -> Self {
        Builder {
            object,
            unset: unset.to_vec(),
        }
    }

    fn set(&mut self, pointer: &str) {
        self.unset.retain(|p| *p != pointer);
    }

    /// The typed object, every field as its type holds it (for `create`).
    pub fn build(self) -> K {
        self.object
    }
}

impl<K: Resource> Builder<K> {
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.object
            .meta_mut()
            .labels
            .get_or_insert_default()
            .insert(key.into(), value.into());
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.object
            .meta_mut()
            .annotations
            .get_or_insert_default()
            .insert(key.into(), value.into());
        self
    }

    pub fn owner_reference(mut self, owner: OwnerReference) -> Self {
        self.object
            .meta_mut()
            .owner_references
            .get_or_insert_default()
            .push(owner);
        self
    }
}

impl<K: Resource<DynamicType = ()> + Serialize> Manifest for Builder<K> {
    fn objects(&self) -> Vec<Object> {
        let mut object = Object::of(&self.object);
        for pointer in &self.unset {
            let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
            if let Some(Value::Object(fields)) = object.value.pointer_mut(parent) {
                fields.remove(key);
            }
        }
        vec![object]
    }
}

fn metadata(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(Into::into),
        ..Default::default()
    }
}

fn strings(items: &[impl AsRef<str>]) -> impl Iterator<Item = String> + '_ {
    items.iter().map(|s| s.as_ref().to_string())
}

// Workflows.

/// A Workflow whose display name is its name.
pub fn workflow(ns: &str, name: &str) -> Builder<Workflow> {
    let workflow = Workflow {
        metadata: metadata(Some(ns), name),
        spec: WorkflowSpec {
            display_name: name.into(),
            ..Default::default()
        },
        status: None,
    };
    Builder::new(workflow, &["/spec/archived"])
}

impl Builder<Workflow> {
    pub fn display_name(mut self, name: &str) -> Self {
        self.object.spec.display_name = name.into();
        self
    }

    /// The free-text category (`spec.type`).
    pub fn of_type(mut self, type_: &str) -> Self {
        self.object.spec.type_ = type_.into();
        self
    }

    pub fn description(mut self, text: &str) -> Self {
        self.object.spec.description = text.into();
        self
    }

    pub fn training_data(mut self, reference: &str) -> Self {
        self.object.spec.training_data_ref = Some(reference.into());
        self
    }

    /// Steps of the given names.
    pub fn steps(mut self, names: &[&str]) -> Self {
        self.object.spec.definition = names
            .iter()
            .map(|name| WorkflowStep {
                name: (*name).into(),
                ..Default::default()
            })
            .collect();
        self
    }

    pub fn deidentified(mut self, enabled: bool) -> Self {
        self.object.spec.deidentification = Some(Deidentification { enabled });
        self
    }

    pub fn in_project(mut self, project: &str) -> Self {
        self.object.spec.project_ref = Some(project.into());
        self
    }
}

// Shares.

/// A share `name` in `ns`; its kind is chosen by what it shares.
pub fn share(ns: &str, name: &str) -> Share {
    Share {
        metadata: metadata(Some(ns), name),
    }
}

/// A share whose kind is not chosen yet.
pub struct Share {
    metadata: ObjectMeta,
}

impl Share {
    pub fn workflow(self, workflow: &str) -> Builder<WorkflowShare> {
        let share = WorkflowShare {
            metadata: self.metadata,
            spec: WorkflowShareSpec {
                workflow_ref: WorkflowRef {
                    name: workflow.into(),
                    namespace: None,
                },
                ..Default::default()
            },
            status: None,
        };
        Builder::new(share, &["/spec/entireOrganization", "/spec/access"])
    }

    pub fn project(self, project: &str) -> Builder<ProjectShare> {
        let share = ProjectShare {
            metadata: self.metadata,
            spec: ProjectShareSpec {
                project_ref: local_ref(project),
                scope: Default::default(),
            },
            status: None,
        };
        Builder::new(share, &["/spec/entireOrganization"])
    }

    pub fn trigger(self, trigger: &str) -> Builder<TriggerShare> {
        let share = TriggerShare {
            metadata: self.metadata,
            spec: TriggerShareSpec {
                trigger_ref: local_ref(trigger),
                scope: Default::default(),
            },
            status: None,
        };
        Builder::new(share, &["/spec/entireOrganization"])
    }
}

fn local_ref(name: &str) -> LocalObjectRef {
    LocalObjectRef {
        name: name.into(),
        namespace: None,
    }
}

/// Who a share reaches: the same on the three kinds of share.
pub trait Recipients: Sized {
    fn to_workspaces(self, workspaces: &[impl AsRef<str>]) -> Self;
    fn entire_organization(self) -> Self;
    /// Named users; none adds nothing (not an empty `people`).
    fn to_users(self, users: &[impl AsRef<str>]) -> Self;
    /// Named groups; none adds nothing (not an empty `people`).
    fn to_groups(self, groups: &[impl AsRef<str>]) -> Self;
}

macro_rules! recipients {
    ($kind:ty, $($scope:ident).+) => {
        impl Recipients for Builder<$kind> {
            fn to_workspaces(mut self, workspaces: &[impl AsRef<str>]) -> Self {
                self.object.$($scope).+.workspaces.extend(strings(workspaces));
                self
            }

            fn entire_organization(mut self) -> Self {
                self.object.$($scope).+.entire_organization = true;
                self.set("/spec/entireOrganization");
                self
            }

            fn to_users(mut self, users: &[impl AsRef<str>]) -> Self {
                if !users.is_empty() {
                    let people = self.object.$($scope).+.people.get_or_insert_default();
                    people.users.extend(strings(users));
                }
                self
            }

            fn to_groups(mut self, groups: &[impl AsRef<str>]) -> Self {
                if !groups.is_empty() {
                    let people = self.object.$($scope).+.people.get_or_insert_default();
                    people.groups.extend(strings(groups));
                }
                self
            }
        }
    };
}

recipients!(WorkflowShare, spec);
recipients!(ProjectShare, spec.scope);
recipients!(TriggerShare, spec.scope);

impl Builder<WorkflowShare> {
    pub fn access(mut self, access: Access) -> Self {
        self.object.spec.access = access;
        self.set("/spec/access");
        self
    }

    /// Names a namespace in `workflowRef`, which a share may not do.
    pub fn ref_namespace(mut self, ns: &str) -> Self {
        self.object.spec.workflow_ref.namespace = Some(ns.into());
        self
    }
}

// Organizations and workspaces.

/// An Organization (de-identification on by default) and its workspaces: namespaces
/// labelled with it, created or joined when applied.
pub fn organization(name: &str, workspaces: &[&str]) -> OrganizationBuilder {
    let organization = Organization {
        metadata: metadata(None, name),
        spec: OrganizationSpec {
            deidentification_default: true,
            ..Default::default()
        },
        status: None,
    };
    OrganizationBuilder {
        organization: Builder::new(organization, &["/spec/sharingPolicy"]),
        workspaces: workspaces.iter().map(|ws| workspace(ws, name)).collect(),
    }
}

/// An Organization and its workspaces.
pub struct OrganizationBuilder {
    organization: Builder<Organization>,
    workspaces: Vec<Builder<Namespace>>,
}

impl OrganizationBuilder {
    pub fn auditor(mut self, user: &str) -> Self {
        let auditors = &mut self.organization.object.spec.auditors;
        auditors.push(OrganizationSubject {
            kind: "User".into(),
            name: user.into(),
        });
        self
    }

    pub fn coordinator(mut self, user: &str) -> Self {
        let coordinators = &mut self.organization.object.spec.coordinators;
        coordinators.push(OrganizationSubject {
            kind: "User".into(),
            name: user.into(),
        });
        self
    }
}

impl Manifest for OrganizationBuilder {
    fn objects(&self) -> Vec<Object> {
        let mut objects = self.organization.objects();
        objects.extend(self.workspaces.iter().flat_map(Manifest::objects));
        objects
    }
}

pub fn namespace(name: &str) -> Builder<Namespace> {
    let namespace = Namespace {
        metadata: metadata(None, name),
        ..Default::default()
    };
    Builder::new(namespace, &[])
}

/// A namespace labelled as a workspace of `organization`.
pub fn workspace(name: &str, organization: &str) -> Builder<Namespace> {
    namespace(name).label(ORGANIZATION_LABEL, organization)
}

// RBAC.

/// The chart's ClusterRole of a workspace role: owner, manager or member.
pub fn workspace_role(role: &str) -> RoleRef {
    role_ref("ClusterRole", &format!("workflow-share-{role}"))
}

pub fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: Some(RBAC.into()),
        kind: kind.into(),
        name: name.into(),
    }
}

/// A RoleBinding without subjects yet (add them with `user` and `group`).
pub fn role_binding(ns: &str, name: &str, role: RoleRef) -> Builder<RoleBinding> {
    let binding = RoleBinding {
        metadata: metadata(Some(ns), name),
        role_ref: role,
        subjects: None,
    };
    Builder::new(binding, &[])
}

/// `user` in a workspace role of `ns`: the RoleBinding `<role>-<user>`.
pub fn member(ns: &str, role: &str, user: &str) -> Builder<RoleBinding> {
    role_binding(ns, &format!("{role}-{user}"), workspace_role(role)).user(user)
}

/// The group `group` in a workspace role of `ns`: the RoleBinding `<role>-<group>`.
pub fn group_member(ns: &str, role: &str, group: &str) -> Builder<RoleBinding> {
    role_binding(ns, &format!("{role}-{group}"), workspace_role(role)).group(group)
}

pub fn cluster_role_binding(name: &str, cluster_role: &str) -> Builder<ClusterRoleBinding> {
    let binding = ClusterRoleBinding {
        metadata: metadata(None, name),
        role_ref: role_ref("ClusterRole", cluster_role),
        subjects: None,
    };
    Builder::new(binding, &[])
}

pub fn rule(api_groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(strings(api_groups).collect()),
        resources: Some(strings(resources).collect()),
        verbs: strings(verbs).collect(),
        ..Default::default()
    }
}

pub fn role(ns: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        metadata: metadata(Some(ns), name),
        rules: Some(rules),
    }
}

pub fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: metadata(None, name),
        rules: Some(rules),
        ..Default::default()
    }
}

/// The bindings, whose subjects `user` and `group` add to.
pub trait Bindings {
    fn subjects(&mut self) -> &mut Vec<Subject>;
}

impl Bindings for RoleBinding {
    fn subjects(&mut self) -> &mut Vec<Subject> {
        self.subjects.get_or_insert_default()
    }
}

impl Bindings for ClusterRoleBinding {
    fn subjects(&mut self) -> &mut Vec<Subject> {
        self.subjects.get_or_insert_default()
    }
}

impl<K: Bindings> Builder<K> {
    pub fn user(self, name: &str) -> Self {
        self.subject("User", name)
    }

    pub fn users(self, names: &[impl AsRef<str>]) -> Self {
        names.iter().fold(self, |b, name| b.user(name.as_ref()))
    }

    pub fn group(self, name: &str) -> Self {
        self.subject("Group", name)
    }

    fn subject(mut self, kind: &str, name: &str) -> Self {
        self.object.subjects().push(Subject {
            api_group: Some(RBAC.into()),
            kind: kind.into(),
            name: name.into(),
            namespace: None,
        });
        self
    }
}

// Projects, triggers, runs, clones and library entries.

/// A Project whose display name is its name.
pub fn project(ns: &str, name: &str) -> Builder<Project> {
    let project = Project {
        metadata: metadata(Some(ns), name),
        spec: ProjectSpec {
            display_name: name.into(),
            ..Default::default()
        },
        status: None,
    };
    Builder::new(project, &[])
}

impl Builder<Project> {
    pub fn display_name(mut self, name: &str) -> Self {
        self.object.spec.display_name = name.into();
        self
    }

    pub fn document(mut self, title: &str, reference: &str) -> Self {
        self.object.spec.documents.push(ProjectDocument {
            title: title.into(),
            reference: reference.into(),
        });
        self
    }

    pub fn agent(mut self, name: &str) -> Self {
        self.object.spec.team.push(TeamMember {
            kind: "Agent".into(),
            name: name.into(),
            ..Default::default()
        });
        self
    }
}

fn runnable(kind: RunnableKind, name: &str) -> RunnableRef {
    RunnableRef {
        kind,
        name: name.into(),
        namespace: None,
    }
}

/// A Trigger of type Schedule (its type's default) until `webhook` makes it one.
pub fn trigger(ns: &str, name: &str) -> Builder<Trigger> {
    let trigger = Trigger {
        metadata: metadata(Some(ns), name),
        spec: TriggerSpec::default(),
        status: None,
    };
    Builder::new(trigger, &["/spec/suspend", "/spec/historyLimit"])
}

impl Builder<Trigger> {
    pub fn workflow(self, name: &str) -> Self {
        self.runnable(RunnableKind::Workflow, name)
    }

    pub fn runnable(mut self, kind: RunnableKind, name: &str) -> Self {
        self.object.spec.workflow_ref = runnable(kind, name);
        self
    }

    /// Fires on `cron`.
    pub fn schedule(mut self, cron: &str) -> Self {
        self.object.spec.type_ = TriggerType::Schedule;
        self.object.spec.schedule = Some(Schedule {
            cron: cron.into(),
            ..Default::default()
        });
        self
    }

    pub fn time_zone(mut self, zone: &str) -> Self {
        let schedule = self.object.spec.schedule.get_or_insert_default();
        schedule.time_zone = Some(zone.into());
        self
    }

    pub fn webhook(mut self) -> Self {
        self.object.spec.type_ = TriggerType::Webhook;
        self
    }

    pub fn history_limit(mut self, runs: i32) -> Self {
        self.object.spec.history_limit = runs;
        self.set("/spec/historyLimit");
        self
    }

    /// Names a namespace in `workflowRef`, which a trigger may not do.
    pub fn ref_namespace(mut self, ns: &str) -> Self {
        self.object.spec.workflow_ref.namespace = Some(ns.into());
        self
    }
}

pub fn workflow_run(ns: &str, name: &str) -> Builder<WorkflowRun> {
    let run = WorkflowRun {
        metadata: metadata(Some(ns), name),
        spec: WorkflowRunSpec::default(),
        status: None,
    };
    Builder::new(run, &[])
}

impl Builder<WorkflowRun> {
    pub fn workflow(self, name: &str) -> Self {
        self.runnable(RunnableKind::Workflow, name)
    }

    pub fn shared_workflow(self, name: &str) -> Self {
        self.runnable(RunnableKind::SharedWorkflow, name)
    }

    pub fn runnable(mut self, kind: RunnableKind, name: &str) -> Self {
        self.object.spec.workflow_ref = runnable(kind, name);
        self
    }

    pub fn run_as(mut self, user: &str) -> Self {
        self.object.spec.run_as = user.into();
        self
    }

    pub fn trigger_ref(mut self, trigger: &str) -> Self {
        self.object.spec.trigger_ref = Some(trigger.into());
        self
    }

    pub fn scheduled_time(mut self, time: &str) -> Self {
        self.object.spec.scheduled_time = Some(time.into());
        self
    }
}

/// A WorkflowClone: copy `entry` (a SharedWorkflow of `ns`) into the Workflow `target`.
pub fn workflow_clone(ns: &str, name: &str, entry: &str, target: &str) -> Builder<WorkflowClone> {
    let clone = WorkflowClone {
        metadata: metadata(Some(ns), name),
        spec: WorkflowCloneSpec {
            shared_workflow_ref: SharedWorkflowRef { name: entry.into() },
            target_name: target.into(),
        },
        status: None,
    };
    Builder::new(clone, &[])
}

/// A SharedWorkflow (a library entry) of `source_ns/source`, with View access, whose
/// display name is its source's name.
pub fn shared_workflow(
    ns: &str,
    name: &str,
    source_ns: &str,
    source: &str,
) -> Builder<SharedWorkflow> {
    let entry = SharedWorkflow {
        metadata: metadata(Some(ns), name),
        spec: SharedWorkflowSpec {
            source: SharedWorkflowSource {
                namespace: source_ns.into(),
                name: source.into(),
                ..Default::default()
            },
            display_name: source.into(),
            access: Access::View,
            ..Default::default()
        },
    };
    Builder::new(entry, &["/spec/source/generation"])
}

impl Builder<SharedWorkflow> {
    pub fn display_name(mut self, name: &str) -> Self {
        self.object.spec.display_name = name.into();
        self
    }

    pub fn shared_by(mut self, user: &str) -> Self {
        self.object.spec.shared_by = user.into();
        self
    }
}
