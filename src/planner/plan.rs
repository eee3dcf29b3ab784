use std::collections::{BTreeMap, BTreeSet};

use crate::labels;
use crate::naming;
use crate::resources::condition::ConditionType;
use crate::resources::workflow::Tier;
use crate::resources::{
    Access, Condition, GrantState, GrantVia, GrantedObject, People, PersonGrant,
    SharedWorkflowSource, SharedWorkflowSpec, Workflow, WorkflowShare, WorkflowShareStatus,
    WorkflowStatus, WorkspaceGrant,
};

use super::directory::{Directory, Lookup, Member};

/// A SharedWorkflow that should exist in a recipient workspace.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredSharedWorkflow {
    pub workspace: String,
    pub name: String,
    pub spec: SharedWorkflowSpec,
}

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
    /// Status without timestamps of conditions (merged by the writer).
    pub status: WorkflowShareStatus,
    /// Workspaces this share must notify now: newly granted, never notified.
    pub notify: Vec<String>,
}

/// Everything one workflow's sharing should converge to.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowPlan {
    pub namespace: String,
    pub workflow: String,
    pub shared_workflows: Vec<DesiredSharedWorkflow>,
    /// Read access for people and granted workspaces (but for the organization's
    /// members when `organization_readable`).
    pub rbac: Option<DesiredRbac>,
    /// Every member of the owner's organization may read it: the workspace's one
    /// organization readers grant lists it (see `plan_organization_readers`).
    pub organization_readable: bool,
    /// Read, edit, delete and (unless the organization reserves it) share, for the creator.
    pub creator_rbac: Option<DesiredRbac>,
    pub shares: Vec<SharePlan>,
    /// None when the workflow does not exist.
    pub workflow_status: Option<WorkflowStatus>,
}

impl WorkflowPlan {
    /// The access `workspace` holds now, if its grant is active. Runs, clones and
    /// trigger fires are judged by this, never by whether a library entry exists:
    /// an entry can outlive its grant (a finalizer, a slow deletion).
    pub fn access_of(&self, workspace: &str) -> Option<Access> {
        self.shared_workflows
            .iter()
            .find(|s| s.workspace == workspace)
            .map(|s| s.spec.access)
    }

    /// Workspaces with an active grant, sorted.
    pub fn active_workspaces(&self) -> Vec<&str> {
        self.shared_workflows
            .iter()
            .map(|s| s.workspace.as_str())
            .collect()
    }
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
pub(super) fn created_by(meta: &kube::api::ObjectMeta) -> Option<String> {
    meta.annotations.as_ref()?.get(labels::CREATED_BY).cloned()
}

/// Who created an object, and the groups they had then, as admission stamped them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creator {
    pub user: String,
    pub groups: Vec<String>,
}

/// The stamped creator of an object (groups one per line in their stamp).
pub fn stamped_creator(meta: &kube::api::ObjectMeta) -> Option<Creator> {
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
    object: &kube::api::ObjectMeta,
    share: &kube::api::ObjectMeta,
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

/// Earliest notification already recorded for `workspace` by any share of the workflow.
fn recorded_notification(shares: &[&WorkflowShare], workspace: &str) -> Option<String> {
    shares
        .iter()
        .filter_map(|s| s.status.as_ref())
        .flat_map(|st| st.grants.iter())
        .filter(|g| g.workspace == workspace)
        .filter_map(|g| g.notified_at.clone())
        .min()
}

fn previous_grant<'a>(share: &'a WorkflowShare, workspace: &str) -> Option<&'a WorkspaceGrant> {
    share
        .status
        .as_ref()?
        .grants
        .iter()
        .find(|g| g.workspace == workspace)
}

/// Plans one workflow: `shares` are every WorkflowShare in `namespace` whose
/// workflowRef names `workflow` (shares being deleted are ignored). `now` is the
/// RFC 3339 time stamped on new grants. `unauthorized` names the shares whose
/// author may no longer share the workflow (the controller asks the API server;
/// offline, nobody is): they grant nothing.
pub fn plan_workflow(
    directory: &Directory,
    namespace: &str,
    workflow_name: &str,
    workflow: Option<&Workflow>,
    shares: &[&WorkflowShare],
    unauthorized: &BTreeSet<String>,
    now: &str,
) -> WorkflowPlan {
    let mut live: Vec<&WorkflowShare> = shares
        .iter()
        .copied()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .collect();
    live.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));

    let owner_org = directory.organization_of(namespace);
    let workflow = workflow.filter(|w| w.metadata.deletion_timestamp.is_none());
    let shareable = workflow.map(|w| {
        w.deidentified(
            owner_org
                .map(|o| directory.deidentification_default(o))
                .unwrap_or(false),
        )
    });
    let archived = workflow.is_some_and(|w| w.spec.archived);

    // Per recipient workspace: the strongest access and the first share granting it.
    let mut recipients: BTreeMap<String, (Access, &WorkflowShare)> = BTreeMap::new();
    let mut notify_claimed: BTreeSet<String> = BTreeSet::new();
    let mut people_subjects: BTreeSet<Member> = BTreeSet::new();
    let mut share_plans = Vec::new();

    for share in &live {
        let sharer_allowed = !share
            .metadata
            .name
            .as_ref()
            .is_some_and(|n| unauthorized.contains(n));
        // The owner's own workspace reads the workflow itself, never a library entry.
        let targets = share_targets(
            directory,
            owner_org,
            &share.spec.workspaces,
            share.spec.entire_organization,
        )
        .into_iter()
        .filter(|(ws, via)| ws != namespace || via.contains(&GrantVia::Explicit))
        .collect::<BTreeMap<_, _>>();

        let mut grants = Vec::new();
        let mut notify = Vec::new();
        for (ws, via) in targets {
            let previous = previous_grant(share, &ws);
            let (state, reason, message) = match (
                workflow,
                target_problem(directory, namespace, owner_org, &ws),
            ) {
                (None, _) => (
                    GrantState::Pending,
                    "WorkflowNotFound",
                    format!("workflow {workflow_name} does not exist in {namespace}"),
                ),
                (Some(_), _) if !sharer_allowed => {
                    sharer_not_allowed(&share.metadata, "workflow", workflow_name)
                }
                (Some(_), Some(problem)) => problem,
                (Some(_), None) if archived => (
                    GrantState::Suspended,
                    "WorkflowArchived",
                    "the workflow is archived; access returns when it is restored".into(),
                ),
                (Some(_), None) if shareable == Some(false) => (
                    GrantState::Suspended,
                    "DeidentificationRequired",
                    "only de-identified workflows can be shared".into(),
                ),
                (Some(_), None) => (GrantState::Active, "Granted", String::new()),
            };
            let eligible = matches!(state, GrantState::Active | GrantState::Suspended);
            let notified_at = if eligible {
                previous
                    .and_then(|p| p.notified_at.clone())
                    .or_else(|| recorded_notification(&live, &ws))
            } else {
                None
            };
            let granted_at = match state {
                GrantState::Active | GrantState::Suspended => previous
                    .and_then(|p| p.granted_at.clone())
                    .or_else(|| (state == GrantState::Active).then(|| now.to_string())),
                _ => None,
            };
            if state == GrantState::Active {
                let entry = recipients
                    .entry(ws.clone())
                    .or_insert((share.spec.access, share));
                entry.0 = entry.0.min(share.spec.access); // View < Run: View wins
                // One notification per workspace: the first share (by name) that
                // grants it in this pass notifies; the others copy its record later.
                if notified_at.is_none() && notify_claimed.insert(ws.clone()) {
                    notify.push(ws.clone());
                }
            }
            grants.push(WorkspaceGrant {
                workspace: ws,
                via: via.into_iter().collect(),
                state,
                reason: reason.to_string(),
                message,
                granted_at,
                notified_at,
                // Remembered only while suspended; the sync records and replays it.
                recipient_enabled: previous
                    .filter(|_| state == GrantState::Suspended)
                    .and_then(|p| p.recipient_enabled),
            });
        }
        let mut people = person_grants(
            directory,
            owner_org,
            share.spec.people.as_ref(),
            share.status.as_ref(),
            workflow.is_some(),
            archived,
            shareable,
            now,
        );
        if !sharer_allowed && workflow.is_some() {
            for p in &mut people {
                p.state = GrantState::Rejected;
                p.reason = "SharerNotAllowed".into();
                p.granted_at = None;
            }
        }
        if share.spec.access == Access::View {
            for p in people.iter().filter(|p| p.state == GrantState::Active) {
                people_subjects.insert(Member {
                    kind: p.kind.clone(),
                    name: p.name.clone(),
                    namespace: None,
                });
            }
        }
        let active = grants
            .iter()
            .filter(|g| g.state == GrantState::Active)
            .count();
        let owner_problem = (share.spec.entire_organization && workflow.is_some())
            .then(|| target_problem(directory, namespace, owner_org, ""))
            .flatten()
            .filter(|_| owner_org.is_none());
        let conditions = if let Some((state, reason, message)) = owner_problem {
            // "The whole organization" of a workspace in none is nobody: not Ready.
            owner_conditions(state, reason, message)
        } else if sharer_allowed || workflow.is_none() {
            share_conditions("workflow", workflow.is_some(), archived, &grants)
        } else {
            let (_, reason, message) =
                sharer_not_allowed(&share.metadata, "workflow", workflow_name);
            vec![
                Condition::new(ConditionType::Ready, false, reason, message),
                Condition::new(ConditionType::Reconciling, false, "Reconciled", ""),
                // Not Stalled: granting the author the right to share fixes it.
                Condition::new(ConditionType::Stalled, false, "Reconciled", ""),
            ]
        };
        share_plans.push(SharePlan {
            name: share.metadata.name.clone().unwrap_or_default(),
            status: WorkflowShareStatus {
                observed_generation: share.metadata.generation,
                conditions,
                active_grants: i32::try_from(active).unwrap_or(i32::MAX),
                grants,
                people,
                shared_by: created_by(&share.metadata),
                object: {
                    let recorded = share.status.as_ref().and_then(|s| s.object.as_ref());
                    match workflow {
                        Some(w) => granted_object(&w.metadata, &share.metadata, recorded),
                        // Kept while none exists: a later one of the name is then known
                        // for sure to have come after the share.
                        None => recorded.cloned(),
                    }
                },
            },
            notify,
        });
    }

    // Organization tier: every member of the organization reads it, the owner's own
    // workspace included, through the owner workspace's one organization readers
    // grant (a workspace joining is then one binding to update, not one per workflow).
    let sharing_allowed = |s: &&&WorkflowShare| {
        !s.metadata
            .name
            .as_ref()
            .is_some_and(|n| unauthorized.contains(n))
    };
    let available =
        workflow.is_some() && owner_org.is_some() && !archived && shareable == Some(true);
    let organization_wide = available
        && live
            .iter()
            .filter(sharing_allowed)
            .any(|s| s.spec.entire_organization);
    let organization_readable = organization_wide
        && live
            .iter()
            .filter(sharing_allowed)
            .any(|s| s.spec.entire_organization && s.spec.access == Access::View);

    let mut shared_workflows = Vec::new();
    let mut subjects: BTreeSet<Member> = people_subjects;
    if let Some(wf) = workflow {
        for (ws, (access, share)) in &recipients {
            // Granted workspaces are all of the organization: its readers grant covers them.
            if *access == Access::View && !organization_readable {
                subjects.extend(directory.recipients_of(ws));
            }
            shared_workflows.push(DesiredSharedWorkflow {
                workspace: ws.clone(),
                name: naming::shared_workflow_name(namespace, workflow_name),
                spec: SharedWorkflowSpec {
                    source: SharedWorkflowSource {
                        namespace: namespace.to_string(),
                        name: workflow_name.to_string(),
                        uid: wf.metadata.uid.clone().unwrap_or_default(),
                        generation: wf.metadata.generation.unwrap_or_default(),
                    },
                    display_name: wf.spec.display_name.clone(),
                    type_: wf.spec.type_.clone(),
                    description: wf.spec.description.clone(),
                    shared_by: created_by(&share.metadata).unwrap_or_default(),
                    access: *access,
                    enabled: None,
                },
            });
        }
    }
    let shared_with_people = share_plans
        .iter()
        .flat_map(|p| p.status.people.iter())
        .any(|p| p.state == GrantState::Active);
    let tier = if organization_wide {
        Tier::Organization
    } else if !shared_workflows.is_empty() || shared_with_people {
        Tier::Shared
    } else {
        Tier::Private
    };
    // Workspaces, then people as `User:name` / `Group:name`.
    let people_with_access: BTreeSet<String> = share_plans
        .iter()
        .flat_map(|p| p.status.people.iter())
        .filter(|p| p.state == GrantState::Active)
        .map(|p| format!("{}:{}", p.kind, p.name))
        .collect();
    let shared_with: Vec<String> = shared_workflows
        .iter()
        .map(|s| s.workspace.clone())
        .chain(people_with_access)
        .collect();
    let creator = workflow.and_then(|wf| created_by(&wf.metadata));
    let creator_rbac = workflow.and_then(|wf| workflow_creator_grant(directory, wf));
    let rbac = (!subjects.is_empty()).then(|| DesiredRbac {
        name: naming::grant_rbac_name(workflow_name),
        resource: "workflows",
        objects: vec![workflow_name.to_string()],
        verbs: READ_VERBS.iter().map(|v| v.to_string()).collect(),
        subjects: subjects.into_iter().collect(),
    });
    let workflow_status = workflow.map(|wf| WorkflowStatus {
        observed_generation: wf.metadata.generation,
        conditions: vec![Condition::new(ConditionType::Ready, true, "Reconciled", "")],
        tier: Some(tier),
        creator: creator.clone(),
        shareable,
        active_grants: i32::try_from(shared_with.len()).unwrap_or(i32::MAX),
        shared_with: shared_with.clone(),
        shares: live
            .iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect(),
    });

    WorkflowPlan {
        namespace: namespace.to_string(),
        workflow: workflow_name.to_string(),
        shared_workflows,
        rbac,
        organization_readable,
        creator_rbac,
        shares: share_plans,
        workflow_status,
    }
}

/// The creator's grant on a workflow (see `creator_grant`).
pub fn workflow_creator_grant(directory: &Directory, workflow: &Workflow) -> Option<DesiredRbac> {
    let namespace = workflow.metadata.namespace.as_deref()?;
    let name = workflow.metadata.name.as_deref()?;
    if workflow.metadata.deletion_timestamp.is_some() {
        return None;
    }
    creator_grant(
        directory,
        namespace,
        "workflows",
        name,
        naming::creator_rbac_name(name),
        &workflow.metadata,
    )
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
    meta: &kube::api::ObjectMeta,
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
    share: &kube::api::ObjectMeta,
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
