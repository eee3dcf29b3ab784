//! Who is in which workspace: organizations, workspaces and their members,
//! derived from Namespaces, Organizations, ClusterRoles and RoleBindings.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};

use crate::labels;
use crate::resources::Organization;
use crate::resources::organization::SharingPolicy;

/// An RBAC subject that receives access to a shared workflow.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    pub kind: String,
    pub name: String,
    /// Set for ServiceAccounts only.
    pub namespace: Option<String>,
}

impl Member {
    pub fn group(name: impl Into<String>) -> Self {
        Self {
            kind: "Group".into(),
            name: name.into(),
            namespace: None,
        }
    }
}

/// What a namespace name resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// No such namespace (yet).
    Missing,
    /// The namespace has no organization label.
    Unlabelled,
    /// The label names an Organization that does not exist.
    UnknownOrganization(&'a str),
    /// A workspace of this organization.
    Workspace(&'a str),
}

#[derive(Clone, Debug, Default)]
struct OrganizationEntry {
    deidentification_default: bool,
    sharing_policy: SharingPolicy,
}

#[derive(Clone, Debug, Default)]
struct NamespaceEntry {
    organization: Option<String>,
    terminating: bool,
}

/// Read-only index of organizations, workspaces and workspace members.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    organizations: BTreeMap<String, OrganizationEntry>,
    namespaces: BTreeMap<String, NamespaceEntry>,
    members: BTreeMap<String, BTreeSet<Member>>,
    /// Subjects holding the owner or manager role, per workspace (who gets notified).
    managers: BTreeMap<String, BTreeSet<Member>>,
}

impl Directory {
    pub fn build<'a>(
        organizations: impl IntoIterator<Item = &'a Organization>,
        namespaces: impl IntoIterator<Item = &'a Namespace>,
        cluster_roles: impl IntoIterator<Item = &'a ClusterRole>,
        role_bindings: impl IntoIterator<Item = &'a RoleBinding>,
    ) -> Self {
        let organizations = organizations
            .into_iter()
            .filter_map(|o| {
                Some((
                    o.metadata.name.clone()?,
                    OrganizationEntry {
                        deidentification_default: o.spec.deidentification_default,
                        sharing_policy: o.spec.sharing_policy,
                    },
                ))
            })
            .collect();
        let namespaces = namespaces
            .into_iter()
            .filter_map(|ns| {
                let name = ns.metadata.name.clone()?;
                let organization = ns
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(labels::ORGANIZATION))
                    .cloned();
                let terminating = ns.metadata.deletion_timestamp.is_some();
                Some((
                    name,
                    NamespaceEntry {
                        organization,
                        terminating,
                    },
                ))
            })
            .collect();
        // ClusterRole name -> workspace role (owner, manager, member).
        let workspace_roles: BTreeMap<String, String> = cluster_roles
            .into_iter()
            .filter_map(|cr| {
                let role = cr.metadata.labels.as_ref()?.get(labels::WORKSPACE_ROLE)?;
                Some((cr.metadata.name.clone()?, role.clone()))
            })
            .collect();
        let mut managers: BTreeMap<String, BTreeSet<Member>> = BTreeMap::new();
        let mut members: BTreeMap<String, BTreeSet<Member>> = BTreeMap::new();
        for rb in role_bindings {
            let Some(ns) = rb.metadata.namespace.as_ref() else {
                continue;
            };
            let Some(role) = workspace_roles
                .get(&rb.role_ref.name)
                .filter(|_| rb.role_ref.kind == "ClusterRole")
            else {
                continue;
            };
            let is_manager = role == "owner" || role == "manager";
            if rb.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let entry = members.entry(ns.clone()).or_default();
            for s in rb.subjects.iter().flatten() {
                let namespace = (s.kind == "ServiceAccount")
                    .then(|| s.namespace.clone().unwrap_or_else(|| ns.clone()));
                let member = Member {
                    kind: s.kind.clone(),
                    name: s.name.clone(),
                    namespace,
                };
                if is_manager {
                    managers
                        .entry(ns.clone())
                        .or_default()
                        .insert(member.clone());
                }
                entry.insert(member);
            }
        }
        Self {
            organizations,
            namespaces,
            members,
            managers,
        }
    }

    pub fn lookup(&self, namespace: &str) -> Lookup<'_> {
        let Some(entry) = self.namespaces.get(namespace) else {
            return Lookup::Missing;
        };
        if entry.terminating {
            return Lookup::Missing;
        }
        match entry.organization.as_deref() {
            None => Lookup::Unlabelled,
            Some(org) if self.organizations.contains_key(org) => Lookup::Workspace(org),
            Some(org) => Lookup::UnknownOrganization(org),
        }
    }

    /// The organization `namespace` is a workspace of, if it is one.
    pub fn organization_of(&self, namespace: &str) -> Option<&str> {
        match self.lookup(namespace) {
            Lookup::Workspace(org) => Some(org),
            _ => None,
        }
    }

    pub fn deidentification_default(&self, organization: &str) -> bool {
        self.organizations
            .get(organization)
            .is_some_and(|o| o.deidentification_default)
    }

    /// Whether creators may share what they created in `namespace` (the default, and
    /// also for a namespace outside any organization, where sharing grants nothing).
    pub fn creators_may_share(&self, namespace: &str) -> bool {
        self.organization_of(namespace)
            .and_then(|org| self.organizations.get(org))
            .is_none_or(|o| o.sharing_policy == SharingPolicy::CreatorsAndManagers)
    }

    /// Every workspace of `organization`, sorted.
    pub fn workspaces_of<'s>(
        &'s self,
        organization: &'s str,
    ) -> impl Iterator<Item = &'s str> + 's {
        self.namespaces
            .keys()
            .map(String::as_str)
            .filter(move |ns| self.organization_of(ns) == Some(organization))
    }

    /// Owners and managers of a workspace: the people notified of new grants.
    pub fn managers_of(&self, workspace: &str) -> BTreeSet<Member> {
        self.managers.get(workspace).cloned().unwrap_or_default()
    }

    /// Whether `user`, with `groups`, is a recipient subject of `namespace`: bound
    /// there to a workspace role by name, as a ServiceAccount, or through one of
    /// `groups`; or one of its ServiceAccounts.
    pub fn is_member(&self, namespace: &str, user: &str, groups: &[String]) -> bool {
        let own_accounts = format!("system:serviceaccounts:{namespace}");
        if groups.contains(&own_accounts) {
            return true;
        }
        self.members.get(namespace).is_some_and(|members| {
            members.iter().any(|m| match m.kind.as_str() {
                "User" => m.name == user,
                "Group" => groups.contains(&m.name),
                "ServiceAccount" => m.namespace.as_deref().is_some_and(|ns| {
                    user.strip_prefix("system:serviceaccount:")
                        .and_then(|rest| rest.split_once(':'))
                        == Some((ns, m.name.as_str()))
                }),
                _ => false,
            })
        })
    }

    /// Whether the user or group `name` (`kind` User or Group) is a recipient subject
    /// of some workspace of `organization`: bound there to a workspace role, or one
    /// of its ServiceAccounts (or their group).
    pub fn reaches_organization(&self, organization: &str, kind: &str, name: &str) -> bool {
        self.workspaces_of(organization).any(|ws| match kind {
            "Group" => {
                name.strip_prefix("system:serviceaccounts:") == Some(ws)
                    || self.members.get(ws).is_some_and(|members| {
                        members.iter().any(|m| m.kind == "Group" && m.name == name)
                    })
            }
            "User" => {
                let account = name
                    .strip_prefix("system:serviceaccount:")
                    .and_then(|rest| rest.split_once(':'));
                account.is_some_and(|(ns, _)| ns == ws)
                    || self.members.get(ws).is_some_and(|members| {
                        members.iter().any(|m| match m.kind.as_str() {
                            "User" => m.name == name,
                            "ServiceAccount" => {
                                account == m.namespace.as_deref().map(|ns| (ns, m.name.as_str()))
                            }
                            _ => false,
                        })
                    })
            }
            _ => false,
        })
    }

    /// Recipient subjects of a workspace: its service accounts plus everyone bound
    /// there to a workspace-role ClusterRole.
    pub fn recipients_of(&self, workspace: &str) -> BTreeSet<Member> {
        let mut out = self.members.get(workspace).cloned().unwrap_or_default();
        out.insert(Member::group(format!("system:serviceaccounts:{workspace}")));
        out
    }
}
