//! The builders of our own kinds: workflows, shares, organizations, projects,
//! triggers, runs, clones and library entries.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::ObjectMeta;
use workflow_share::resources::organization::Subject as OrganizationSubject;
use workflow_share::resources::project::{ProjectDocument, TeamMember};
use workflow_share::resources::workflow::{Deidentification, WorkflowStep};
use workflow_share::resources::{
    Access, AppEvent, LocalObjectRef, Organization, OrganizationSpec, Project, ProjectShare,
    ProjectShareSpec, ProjectSpec, RunnableKind, RunnableRef, Schedule, SharedWorkflow,
    SharedWorkflowRef, SharedWorkflowSource, SharedWorkflowSpec, Trigger, TriggerShare,
    TriggerShareSpec, TriggerSpec, TriggerType, Workflow, WorkflowClone, WorkflowCloneSpec,
    WorkflowRef, WorkflowRun, WorkflowRunSpec, WorkflowShare, WorkflowShareSpec, WorkflowSpec,
};

use super::{Builder, Manifest, Object, metadata, strings, workspace};

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

// Organizations (their workspaces are namespaces: `workspace` in kubernetes.rs).

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

    /// Fires on requests signed with a token of the Secret `hook-token`.
    pub fn webhook(self) -> Self {
        self.webhook_secret(TriggerType::Webhook, "hook-token")
    }

    /// Fires on requests signed with a token of the Secret `secret`.
    pub fn webhook_secret(mut self, type_: TriggerType, secret: &str) -> Self {
        self.object.spec.type_ = type_;
        let webhook = self.object.spec.webhook.get_or_insert_default();
        webhook.secret_ref.name = secret.into();
        self
    }

    /// Fires on the application event `source`/`event`, signed with `secret`'s tokens.
    pub fn app_event(mut self, source: &str, event: &str, secret: &str) -> Self {
        self.object.spec.app_event = Some(AppEvent {
            source: source.into(),
            event: event.into(),
        });
        self.webhook_secret(TriggerType::AppEvent, secret)
    }

    pub fn requests_per_minute(mut self, rate: i32) -> Self {
        let webhook = self.object.spec.webhook.get_or_insert_default();
        webhook.requests_per_minute = Some(rate);
        self
    }

    pub fn suspend(mut self, suspend: bool) -> Self {
        self.object.spec.suspend = suspend;
        self.set("/spec/suspend");
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
