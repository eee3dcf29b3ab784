//! The plan of one workflow: its grants to workspaces and people, their library
//! entries, the read grant, the creator's grant, and every status.

use std::collections::{BTreeMap, BTreeSet};

use crate::naming;
use crate::resources::condition::ConditionType;
use crate::resources::workflow::Tier;
use crate::resources::{
    Access, Condition, GrantState, GrantVia, SharedWorkflowSource, SharedWorkflowSpec, Workflow,
    WorkflowShare, WorkflowShareStatus, WorkflowStatus, WorkspaceGrant,
};

use super::bounded::LISTED;
use super::directory::{Directory, Member};
use super::notified;
use super::rules::{
    DesiredRbac, READ_VERBS, SharePlan, created_by, creator_grant, granted_object,
    owner_conditions, person_grants, share_conditions, share_targets, sharer_not_allowed,
    target_problem,
};

/// A SharedWorkflow that should exist in a recipient workspace: active, or
/// suspended (`spec.suspended`), which is kept only where it exists already.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredSharedWorkflow {
    pub workspace: String,
    pub name: String,
    /// Shared by every entry of the same access and state: a workflow shared with a
    /// thousand workspaces plans one spec, not a thousand copies.
    pub spec: std::sync::Arc<SharedWorkflowSpec>,
    /// When the grant began (stamped on an entry made now); None on an entry made
    /// before stamps.
    pub granted_at: Option<String>,
}

impl DesiredSharedWorkflow {
    /// Access is held through it now (not suspended).
    pub fn is_active(&self) -> bool {
        self.spec.suspended.is_none()
    }
}

/// A library entry of the workflow as it exists now (ours: labelled for it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExistingEntry {
    /// Its `granted-at` stamp; None on an entry made before stamps.
    pub granted_at: Option<String>,
    /// Marked suspended.
    pub suspended: bool,
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
    /// Workspaces whose owners and managers must be notified now: their entry is
    /// active and stamped after the workflow's `notifiedThrough`.
    pub notify: Vec<String>,
    /// Workspaces that held access through an entry before this plan (what the
    /// shares' Events compare with).
    pub active_before: BTreeSet<String>,
}

impl WorkflowPlan {
    /// The access `workspace` holds now, if its grant is active. Runs, clones and
    /// trigger fires are judged by this, never by whether a library entry exists:
    /// an entry can outlive its grant (a finalizer, a slow deletion).
    pub fn access_of(&self, workspace: &str) -> Option<Access> {
        self.shared_workflows
            .iter()
            .find(|s| s.workspace == workspace && s.is_active())
            .map(|s| s.spec.access)
    }

    /// Workspaces with an active grant, sorted.
    pub fn active_workspaces(&self) -> Vec<&str> {
        self.shared_workflows
            .iter()
            .filter(|s| s.is_active())
            .map(|s| s.workspace.as_str())
            .collect()
    }
}

/// What a workflow is planned from besides the directory: the workflow (None when
/// it does not exist), every WorkflowShare in its namespace whose workflowRef names
/// it (shares being deleted are ignored), its library entries by workspace, and
/// the shares whose author may no longer share it (the controller asks the API
/// server; offline, nobody is): they grant nothing.
pub struct WorkflowInputs<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub workflow: Option<&'a Workflow>,
    pub shares: &'a [&'a WorkflowShare],
    pub entries: &'a BTreeMap<String, ExistingEntry>,
    pub unauthorized: &'a BTreeSet<String>,
}

/// Plans one workflow; `now` (RFC 3339) stamps new grants.
pub fn plan_workflow(
    directory: &Directory,
    inputs: &WorkflowInputs<'_>,
    now: &str,
) -> WorkflowPlan {
    let WorkflowInputs {
        namespace,
        name: workflow_name,
        workflow,
        shares,
        entries,
        unauthorized,
    } = *inputs;
    let mut live: Vec<&WorkflowShare> = shares
        .iter()
        .copied()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .collect();
    live.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let owner_org = directory.organization_of(namespace);
    let workflow = workflow.filter(|w| w.metadata.deletion_timestamp.is_none());
    let through = workflow
        .and_then(|w| w.status.as_ref())
        .and_then(|s| s.notified_through.as_deref());
    let facts = Facts {
        directory,
        namespace,
        workflow_name,
        workflow,
        owner_org,
        shareable: workflow.map(|w| {
            w.deidentified(
                owner_org
                    .map(|o| directory.deidentification_default(o))
                    .unwrap_or(false),
            )
        }),
        archived: workflow.is_some_and(|w| w.spec.archived),
        live,
        unauthorized,
        entries,
        now,
        stamp: notified::stamp_for_new(now, through),
    };

    let mut claims = Claims::default();
    let share_plans: Vec<SharePlan> = facts
        .live
        .iter()
        .map(|share| plan_share(&facts, share, &mut claims))
        .collect();

    // Organization tier: every member of the organization reads it, the owner's own
    // workspace included, through the owner workspace's one organization readers
    // grant (a workspace joining is then one binding to update, not one per workflow).
    let available = workflow.is_some()
        && owner_org.is_some()
        && !facts.archived
        && facts.shareable == Some(true);
    let allowed_org_wide = || {
        facts
            .live
            .iter()
            .filter(|s| facts.sharer_allowed(s) && s.spec.entire_organization)
    };
    let organization_wide = available && allowed_org_wide().next().is_some();
    let organization_readable =
        organization_wide && allowed_org_wide().any(|s| s.spec.access == Access::View);

    let mut subjects = std::mem::take(&mut claims.people_subjects);
    let shared_workflows = library_entries(&facts, &claims, organization_readable, &mut subjects);
    let shared_with_people = share_plans
        .iter()
        .flat_map(|p| p.status.people.iter())
        .any(|p| p.state == GrantState::Active);
    let active_entries = || shared_workflows.iter().filter(|s| s.is_active());
    let tier = if organization_wide {
        Tier::Organization
    } else if active_entries().next().is_some() || shared_with_people {
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
    let with_access = active_entries().count() + people_with_access.len();
    // Bounded like every status: the recipients' entries say the rest.
    let shared_with: Vec<String> = active_entries()
        .map(|s| s.workspace.clone())
        .chain(people_with_access)
        .take(LISTED)
        .collect();
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
        creator: created_by(&wf.metadata),
        shareable: facts.shareable,
        active_grants: i32::try_from(with_access).unwrap_or(i32::MAX),
        shared_with,
        notified_through: through.map(String::from),
        shares: facts
            .live
            .iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect(),
    });

    let notify = active_entries()
        .filter(|s| notified::needs_notice(s.granted_at.as_deref(), through))
        .map(|s| s.workspace.clone())
        .collect();
    WorkflowPlan {
        namespace: namespace.to_string(),
        workflow: workflow_name.to_string(),
        notify,
        active_before: entries
            .iter()
            .filter(|(_, e)| !e.suspended)
            .map(|(ws, _)| ws.clone())
            .collect(),
        shared_workflows,
        rbac,
        organization_readable,
        creator_rbac: workflow.and_then(|wf| workflow_creator_grant(directory, wf)),
        shares: share_plans,
        workflow_status,
    }
}

/// What every share of one workflow is planned against.
struct Facts<'a> {
    directory: &'a Directory,
    namespace: &'a str,
    workflow_name: &'a str,
    /// None when it does not exist or is being deleted.
    workflow: Option<&'a Workflow>,
    owner_org: Option<&'a str>,
    shareable: Option<bool>,
    archived: bool,
    /// The shares not being deleted, by name.
    live: Vec<&'a WorkflowShare>,
    unauthorized: &'a BTreeSet<String>,
    /// The workflow's library entries now, by workspace.
    entries: &'a BTreeMap<String, ExistingEntry>,
    now: &'a str,
    /// When grants made now began (see `notified`).
    stamp: String,
}

impl Facts<'_> {
    fn sharer_allowed(&self, share: &WorkflowShare) -> bool {
        !share
            .metadata
            .name
            .as_ref()
            .is_some_and(|n| self.unauthorized.contains(n))
    }
}

/// What the shares planned so far hold, in name order.
#[derive(Default)]
struct Claims<'a> {
    /// Per recipient workspace: the strongest access and the first share granting it.
    recipients: BTreeMap<String, (Access, &'a WorkflowShare)>,
    /// Per workspace whose grant is suspended: likewise, and why.
    suspended: BTreeMap<String, (Access, &'a WorkflowShare, String)>,
    /// People granted read by a View share.
    people_subjects: BTreeSet<Member>,
}

/// One share's grants and status; claims its recipients and notifications.
fn plan_share<'a>(f: &Facts<'a>, share: &'a WorkflowShare, claims: &mut Claims<'a>) -> SharePlan {
    let sharer_allowed = f.sharer_allowed(share);
    // The owner's own workspace reads the workflow itself, never a library entry.
    let targets = share_targets(
        f.directory,
        f.owner_org,
        &share.spec.workspaces,
        share.spec.entire_organization,
    )
    .into_iter()
    .filter(|(ws, via)| ws != f.namespace || via.contains(&GrantVia::Explicit));

    let mut grants = Vec::new();
    for (ws, via) in targets {
        let grant = workspace_grant(f, share, sharer_allowed, ws, via.into_iter().collect());
        let access = share.spec.access;
        match grant.state {
            GrantState::Active => {
                let entry = claims
                    .recipients
                    .entry(grant.workspace.clone())
                    .or_insert((access, share));
                entry.0 = entry.0.min(access); // View < Run: View wins
            }
            GrantState::Suspended => {
                let entry = claims.suspended.entry(grant.workspace.clone()).or_insert((
                    access,
                    share,
                    grant.reason.clone(),
                ));
                entry.0 = entry.0.min(access);
            }
            _ => {}
        }
        grants.push(grant);
    }
    let mut people = person_grants(
        f.directory,
        f.owner_org,
        share.spec.people.as_ref(),
        share.status.as_ref(),
        f.workflow.is_some(),
        f.archived,
        f.shareable,
        f.now,
    );
    if !sharer_allowed && f.workflow.is_some() {
        for p in &mut people {
            p.state = GrantState::Rejected;
            p.reason = "SharerNotAllowed".into();
            p.granted_at = None;
        }
    }
    if share.spec.access == Access::View {
        for p in people.iter().filter(|p| p.state == GrantState::Active) {
            claims.people_subjects.insert(Member {
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
    let recorded = share.status.as_ref().and_then(|s| s.object.as_ref());
    SharePlan {
        name: share.metadata.name.clone().unwrap_or_default(),
        status: WorkflowShareStatus {
            observed_generation: share.metadata.generation,
            conditions: share_status_conditions(f, share, sharer_allowed, &grants),
            active_grants: i32::try_from(active).unwrap_or(i32::MAX),
            grants,
            people,
            shared_by: created_by(&share.metadata),
            object: match f.workflow {
                Some(w) => granted_object(&w.metadata, &share.metadata, recorded),
                // Kept while none exists: a later one of the name is then known
                // for sure to have come after the share.
                None => recorded.cloned(),
            },
            // Counts are made when it is written (see `bounded`).
            ..Default::default()
        },
    }
}

/// The grant of one target workspace of a share, with when it began as its entry
/// records it (or now, for one granted now).
fn workspace_grant(
    f: &Facts<'_>,
    share: &WorkflowShare,
    sharer_allowed: bool,
    ws: String,
    via: Vec<GrantVia>,
) -> WorkspaceGrant {
    let (state, reason, message) = match (
        f.workflow,
        target_problem(f.directory, f.namespace, f.owner_org, &ws),
    ) {
        (None, _) => (
            GrantState::Pending,
            "WorkflowNotFound",
            format!(
                "workflow {} does not exist in {}",
                f.workflow_name, f.namespace
            ),
        ),
        (Some(_), _) if !sharer_allowed => {
            sharer_not_allowed(&share.metadata, "workflow", f.workflow_name)
        }
        (Some(_), Some(problem)) => problem,
        (Some(_), None) if f.archived => (
            GrantState::Suspended,
            "WorkflowArchived",
            "the workflow is archived; access returns when it is restored".into(),
        ),
        (Some(_), None) if f.shareable == Some(false) => (
            GrantState::Suspended,
            "DeidentificationRequired",
            "only de-identified workflows can be shared".into(),
        ),
        (Some(_), None) => (GrantState::Active, "Granted", String::new()),
    };
    let granted_at = match (state, f.entries.get(&ws)) {
        (GrantState::Active | GrantState::Suspended, Some(entry)) => entry.granted_at.clone(),
        (GrantState::Active, None) => Some(f.stamp.clone()),
        _ => None,
    };
    WorkspaceGrant {
        workspace: ws,
        via,
        state,
        reason: reason.to_string(),
        message,
        granted_at,
    }
}

/// A share's conditions: not Ready when its author may not share (fixable, so not
/// Stalled), or when "the whole organization" of a workspace in none is nobody.
fn share_status_conditions(
    f: &Facts<'_>,
    share: &WorkflowShare,
    sharer_allowed: bool,
    grants: &[WorkspaceGrant],
) -> Vec<Condition> {
    let owner_problem = (share.spec.entire_organization && f.workflow.is_some())
        .then(|| target_problem(f.directory, f.namespace, f.owner_org, ""))
        .flatten()
        .filter(|_| f.owner_org.is_none());
    if let Some((state, reason, message)) = owner_problem {
        owner_conditions(state, reason, message)
    } else if sharer_allowed || f.workflow.is_none() {
        share_conditions("workflow", f.workflow.is_some(), f.archived, grants)
    } else {
        let (_, reason, message) = sharer_not_allowed(&share.metadata, "workflow", f.workflow_name);
        vec![
            Condition::new(ConditionType::Ready, false, reason, message),
            Condition::new(ConditionType::Reconciling, false, "Reconciled", ""),
            // Not Stalled: granting the author the right to share fixes it.
            Condition::new(ConditionType::Stalled, false, "Reconciled", ""),
        ]
    }
}

/// The library entry of each recipient workspace, and the suspended ones that exist
/// already (kept, marked suspended: the recipient's `enabled` and when the grant
/// began survive, and restoring it notifies nobody again). Workspaces granted View
/// are also added to `subjects` (the read grant), unless the organization readers
/// grant covers every one of them.
fn library_entries(
    f: &Facts<'_>,
    claims: &Claims<'_>,
    organization_readable: bool,
    subjects: &mut BTreeSet<Member>,
) -> Vec<DesiredSharedWorkflow> {
    let Some(wf) = f.workflow else {
        return Vec::new();
    };
    let mut wanted: BTreeMap<&str, (Access, &WorkflowShare, Option<&str>)> = claims
        .suspended
        .iter()
        .filter(|(ws, _)| f.entries.contains_key(*ws))
        .map(|(ws, (access, share, why))| (ws.as_str(), (*access, *share, Some(why.as_str()))))
        .collect();
    for (ws, (access, share)) in &claims.recipients {
        wanted.insert(ws, (*access, share, None));
    }
    let mut entries = Vec::new();
    let mut specs: Vec<std::sync::Arc<SharedWorkflowSpec>> = Vec::new();
    for (ws, (access, share, suspended)) in wanted {
        // Granted workspaces are all of the organization: its readers grant covers them.
        if suspended.is_none() && access == Access::View && !organization_readable {
            subjects.extend(f.directory.recipients_of(ws));
        }
        let spec = SharedWorkflowSpec {
            source: SharedWorkflowSource {
                namespace: f.namespace.to_string(),
                name: f.workflow_name.to_string(),
                uid: wf.metadata.uid.clone().unwrap_or_default(),
                generation: wf.metadata.generation.unwrap_or_default(),
            },
            display_name: wf.spec.display_name.clone(),
            type_: wf.spec.type_.clone(),
            description: wf.spec.description.clone(),
            shared_by: created_by(&share.metadata).unwrap_or_default(),
            access,
            suspended: suspended.map(String::from),
            enabled: None,
        };
        let spec = match specs.iter().find(|s| ***s == spec) {
            Some(same) => same.clone(),
            None => {
                let spec = std::sync::Arc::new(spec);
                specs.push(spec.clone());
                spec
            }
        };
        entries.push(DesiredSharedWorkflow {
            workspace: ws.to_string(),
            name: naming::shared_workflow_name(f.namespace, f.workflow_name),
            spec,
            granted_at: match f.entries.get(ws) {
                Some(existing) => existing.granted_at.clone(),
                None => Some(f.stamp.clone()),
            },
        });
    }
    entries
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
