//! The rules every shared kind is planned by (workflows, projects, triggers): which
//! targets a share reaches and why one is refused, who created an object, the
//! creator's grant, grants to people, and the share's conditions.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::labels;
use crate::resources::condition::ConditionType;
use crate::resources::{
    Condition, GrantState, GrantVia, GrantedObject, People, PersonGrant, WorkflowShareStatus,
    WorkspaceGrant,
};

use super::directory::{Directory, Lookup, Member};

/// A Role and RoleBinding (same name) in the owner workspace that give `subjects`
/// `verbs` on exactly the named objects (one, but for the organization's readers).
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredRbac {
    pub name: String,
    /// The resource (plural) of the objects: workflows, projects or triggers.
    pub resource: &'static str,
    /// Names of the objects, sorted.
    pub objects: Vec<String>,
    pub verbs: Vec<String>,
    pub subjects: Vec<Member>,
}

/// What readers of a workflow may do with it: read it, never list or write.
pub const READ_VERBS: [&str; 2] = ["get", "watch"];
/// What the creator may do with their workflow. `share` is the custom verb the
/// admission policy checks before a WorkflowShare of the workflow is written.
const CREATOR_VERBS: [&str; 5] = ["get", "watch", "update", "patch", "delete"];
pub const SHARE_VERB: &str = "share";

/// What one share's status should say.
#[derive(Clone, Debug, PartialEq)]
pub struct SharePlan {
    pub name: String,
    /// Status without timestamps of conditions (merged by the writer), listing every
    /// grant: `bounded` makes the one written.
    pub status: WorkflowShareStatus,
}

/// Why a target is not granted, or None when it is eligible.
pub(super) fn target_problem(
    directory: &Directory,
    owner_namespace: &str,
    owner_org: Option<&str>,
    target: &str,
) -> Option<(GrantState, &'static str, String)> {
    if target == owner_namespace {
        return Some((
            GrantState::Rejected,
            "SelfShare",
            "the owner workspace already has the workflow".into(),
        ));
    }
    let Some(owner_org) = owner_org else {
        return Some(match directory.lookup(owner_namespace) {
            // The share exists in it, so the namespace is only not seen yet.
            Lookup::Missing => (
                GrantState::Pending,
                "WorkspaceNotFound",
                format!("namespace {owner_namespace} is not known yet"),
            ),
            Lookup::UnknownOrganization(org) => (
                GrantState::Pending,
                "OrganizationNotFound",
                format!(
                    "namespace {owner_namespace} names organization {org}, which does not exist yet; it is granted when it appears"
                ),
            ),
            Lookup::Unlabelled | Lookup::Workspace(_) => (
                GrantState::Rejected,
                "OwnerNotInOrganization",
                format!("namespace {owner_namespace} is not a workspace of any organization"),
            ),
        });
    };
    match directory.lookup(target) {
        Lookup::Missing => Some((
            GrantState::Pending,
            "WorkspaceNotFound",
            format!("namespace {target} does not exist yet; it is granted when it appears"),
        )),
        Lookup::Unlabelled => Some((
            GrantState::Rejected,
            "NotAWorkspace",
            format!("namespace {target} has no {} label", labels::ORGANIZATION),
        )),
        Lookup::UnknownOrganization(org) => Some((
            GrantState::Rejected,
            "NotAWorkspace",
            format!("namespace {target} names organization {org}, which does not exist"),
        )),
        Lookup::Workspace(org) if org != owner_org => Some((
            GrantState::Rejected,
            "OtherOrganization",
            format!("workspace {target} belongs to organization {org}, not {owner_org}"),
        )),
        Lookup::Workspace(_) => None,
    }
}

/// The workspaces a share names, each with how: listed, part of the organization
/// (every workspace of the owner's organization, the owner's own included), or both.
pub(super) fn share_targets(
    directory: &Directory,
    owner_org: Option<&str>,
    workspaces: &[String],
    entire_organization: bool,
) -> BTreeMap<String, BTreeSet<GrantVia>> {
    let mut targets: BTreeMap<String, BTreeSet<GrantVia>> = BTreeMap::new();
    for ws in workspaces {
        targets
            .entry(ws.clone())
            .or_default()
            .insert(GrantVia::Explicit);
    }
    if entire_organization && let Some(org) = owner_org {
        for ws in directory.workspaces_of(org) {
            targets
                .entry(ws.to_string())
                .or_default()
                .insert(GrantVia::Organization);
        }
    }
    targets
}

/// The creator stamped by admission on a Workflow or WorkflowShare.
pub(super) fn created_by(meta: &ObjectMeta) -> Option<String> {
    meta.annotations.as_ref()?.get(labels::CREATED_BY).cloned()
}

/// Who created an object, and the groups they had then, as admission stamped them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creator {
    pub user: String,
    pub groups: Vec<String>,
}

/// The stamped creator of an object (groups one per line in their stamp).
pub fn stamped_creator(meta: &ObjectMeta) -> Option<Creator> {
    let annotations = meta.annotations.as_ref()?;
    let user = annotations.get(labels::CREATED_BY)?.clone();
    let groups = annotations
        .get(labels::CREATED_BY_GROUPS)
        .map(|g| {
            g.lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Some(Creator { user, groups })
}

/// The object a share grants now: its UID, its creator, and whether it came after
/// the share (the share was written for an earlier object of that name). That is
/// known for sure when the share's status recorded another UID before; otherwise
/// from the creation times (to the second).
pub(super) fn granted_object(
    object: &ObjectMeta,
    share: &ObjectMeta,
    recorded: Option<&GrantedObject>,
) -> Option<GrantedObject> {
    let uid = object.uid.clone()?;
    let created_after_share = match recorded {
        Some(before) if before.uid == uid => before.created_after_share,
        Some(_) => true,
        None => match (&object.creation_timestamp, &share.creation_timestamp) {
            (Some(o), Some(s)) => o.0 > s.0,
            _ => false,
        },
    };
    Some(GrantedObject {
        uid,
        creator: created_by(object),
        created_after_share,
    })
}

/// The creator's grant on one object: read, edit, delete and, unless the organization
/// reserves it, share. Only while the creator is a member of the object's workspace
/// (bound there by name, or through a group stamped at creation that is still bound):
/// a creator who leaves loses it, and gets it back on rejoining.
pub(super) fn creator_grant(
    directory: &Directory,
    namespace: &str,
    resource: &'static str,
    object: &str,
    rbac_name: String,
    meta: &ObjectMeta,
) -> Option<DesiredRbac> {
    let creator = stamped_creator(meta)?;
    if !directory.is_member(namespace, &creator.user, &creator.groups) {
        return None;
    }
    let user = creator.user.as_str();
    Some(DesiredRbac {
        name: rbac_name,
        resource,
        objects: vec![object.to_string()],
        verbs: CREATOR_VERBS
            .iter()
            .copied()
            .chain(
                directory
                    .creators_may_share(namespace)
                    .then_some(SHARE_VERB),
            )
            .map(String::from)
            .collect(),
        subjects: vec![Member {
            kind: "User".into(),
            name: user.to_string(),
            namespace: None,
        }],
    })
}

/// The target state of every grant of a share whose author may not share the object.
pub(super) fn sharer_not_allowed(
    share: &ObjectMeta,
    noun: &str,
    name: &str,
) -> (GrantState, &'static str, String) {
    let who = created_by(share).unwrap_or_else(|| "its author".to_string());
    (
        GrantState::Rejected,
        "SharerNotAllowed",
        format!(
            "{who} may not share {noun} {name} (any more): only its creator, the owners and managers of its workspace and the organization's coordinators may"
        ),
    )
}

/// Grants to the named people of a share: same availability rules as workspaces.
/// The organization is the boundary for people too: someone who is not a recipient
/// subject of any workspace of the owner's organization (`owner_org`) gets nothing,
/// and gets it once they join.
#[allow(clippy::too_many_arguments)]
pub(super) fn person_grants(
    directory: &Directory,
    owner_org: Option<&str>,
    people: Option<&People>,
    previous: Option<&WorkflowShareStatus>,
    workflow_exists: bool,
    archived: bool,
    shareable: Option<bool>,
    now: &str,
) -> Vec<PersonGrant> {
    let Some(people) = people else {
        return Vec::new();
    };
    let named = people
        .users
        .iter()
        .map(|n| ("User", n))
        .chain(people.groups.iter().map(|n| ("Group", n)));
    named
        .map(|(kind, name)| {
            let in_organization =
                owner_org.is_some_and(|org| directory.reaches_organization(org, kind, name));
            let (state, reason) = if !workflow_exists {
                (GrantState::Pending, "WorkflowNotFound")
            } else if !in_organization {
                (GrantState::Rejected, "NotInOrganization")
            } else if archived {
                (GrantState::Suspended, "WorkflowArchived")
            } else if shareable == Some(false) {
                (GrantState::Suspended, "DeidentificationRequired")
            } else {
                (GrantState::Active, "Granted")
            };
            let previous =
                previous.and_then(|s| s.people.iter().find(|p| p.kind == kind && &p.name == name));
            let granted_at = match state {
                GrantState::Active => previous
                    .and_then(|p| p.granted_at.clone())
                    .or_else(|| Some(now.to_string())),
                GrantState::Suspended => previous.and_then(|p| p.granted_at.clone()),
                _ => None,
            };
            PersonGrant {
                kind: kind.to_string(),
                name: name.clone(),
                state,
                reason: reason.to_string(),
                granted_at,
            }
        })
        .collect()
}

/// kstatus conditions of an organization-wide share whose own workspace is not (yet)
/// a workspace of an organization: waiting (Pending) or stalled (Rejected).
pub(super) fn owner_conditions(
    state: GrantState,
    reason: &'static str,
    message: String,
) -> Vec<Condition> {
    settled_conditions(false, state == GrantState::Rejected, reason, message)
}

/// Ready, Reconciling (done) and Stalled, the reason and message on Ready, and on
/// Stalled when it is stalled.
fn settled_conditions(
    ready: bool,
    stalled: bool,
    reason: &'static str,
    message: String,
) -> Vec<Condition> {
    vec![
        Condition::new(ConditionType::Ready, ready, reason, message.clone()),
        Condition::new(ConditionType::Reconciling, false, "Reconciled", ""),
        Condition::new(
            ConditionType::Stalled,
            stalled,
            if stalled { reason } else { "Reconciled" },
            if stalled { message } else { String::new() },
        ),
    ]
}

/// kstatus conditions of a share from its grants.
pub(super) fn share_conditions(
    noun: &str,
    workflow_exists: bool,
    archived: bool,
    grants: &[WorkspaceGrant],
) -> Vec<Condition> {
    let count = |reason: &str| grants.iter().filter(|g| g.reason == reason).count();
    let rejected = grants
        .iter()
        .filter(|g| g.state == GrantState::Rejected)
        .count();
    let pending = grants
        .iter()
        .filter(|g| g.state == GrantState::Pending)
        .count();
    let (ready, stalled, reason, message) = if !workflow_exists {
        (
            false,
            false,
            "WorkflowNotFound",
            format!("the referenced {noun} does not exist"),
        )
    } else if count("DeidentificationRequired") > 0 {
        (
            false,
            true,
            "DeidentificationRequired",
            "enable de-identification on the workflow to share it".to_string(),
        )
    } else if rejected > 0 {
        (
            false,
            true,
            "TargetsRejected",
            format!("{rejected} target(s) rejected; see status.grants"),
        )
    } else if pending > 0 {
        (
            false,
            false,
            "TargetsPending",
            format!("{pending} target(s) pending; see status.grants"),
        )
    } else if archived {
        (
            true,
            false,
            "WorkflowArchived",
            "the workflow is archived; grants are suspended".to_string(),
        )
    } else {
        let active = grants.len();
        (
            true,
            false,
            "Granted",
            format!("{active} workspace(s) granted"),
        )
    };
    settled_conditions(ready, stalled, reason, message)
}
