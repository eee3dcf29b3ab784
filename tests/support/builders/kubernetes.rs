//! The builders of Kubernetes' own objects: namespaces (workspaces) and RBAC.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::{Builder, metadata, strings};

/// The label that makes a namespace a workspace of an organization.
pub const ORGANIZATION_LABEL: &str = "sharing.workflows.dev/organization";

const RBAC: &str = "rbac.authorization.k8s.io";

// Namespaces and workspaces.

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
