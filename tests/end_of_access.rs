//! The end-of-access matrix: every way access is granted × every way it ends × every
//! way it is used. Each row is its own organization; the grant is first used for
//! real (the workflow read, a run accepted), then ended, then every use is tried
//! again as that user and must be refused. Rows run at once; the table is printed.
//!
//! A use is "refused" when the API server refuses the request (403), or the
//! controller refuses it: a run Rejected, a clone not made, a trigger's fire
//! recorded with a refusal.

mod support;

use std::fmt;
use std::time::{Duration, Instant};

use futures::future::join_all;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::*;
use workflow_share::resources::{
    RunPhase, RunnableKind, SharedWorkflow, Trigger, Workflow, WorkflowClone,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grant {
    Workspace,
    Organization,
    People,
    Group,
    AuditView,
    Creator,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Revoke,
    Archive,
    DeidentificationOff,
    LeaveWorkspace,
    WorkspaceLeavesOrganization,
    OrganizationDeleted,
    DeletedAndNameReused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    Read,
    Run,
    Clone,
    Fire,
}

const GRANTS: [Grant; 6] = [
    Grant::Workspace,
    Grant::Organization,
    Grant::People,
    Grant::Group,
    Grant::AuditView,
    Grant::Creator,
];
const ENDS: [End; 7] = [
    End::Revoke,
    End::Archive,
    End::DeidentificationOff,
    End::LeaveWorkspace,
    End::WorkspaceLeavesOrganization,
    End::OrganizationDeleted,
    End::DeletedAndNameReused,
];

/// Whether `end` ends `grant` at all. The audit view covers archived, private and
/// non-shareable workflows on purpose, and belongs to no workspace; a creator keeps
/// what they made while they are a member of its workspace, whatever its sharing.
fn ends(grant: Grant, end: End) -> bool {
    match grant {
        Grant::AuditView => matches!(
            end,
            End::Revoke | End::WorkspaceLeavesOrganization | End::OrganizationDeleted
        ),
        Grant::Creator => matches!(end, End::LeaveWorkspace | End::DeletedAndNameReused),
        _ => true,
    }
}

/// How each grant is used: library entries are cloned, and run where they are;
/// people and creators run the workflow in its own workspace; auditors only read.
fn uses(grant: Grant) -> &'static [Use] {
    match grant {
        Grant::Workspace | Grant::Organization => &[Use::Read, Use::Run, Use::Clone, Use::Fire],
        Grant::People | Grant::Group | Grant::Creator => &[Use::Read, Use::Run, Use::Fire],
        Grant::AuditView => &[Use::Read],
    }
}

#[derive(Clone, Debug)]
enum Outcome {
    Refused(String),
    Allowed(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Refused(why) => write!(f, "refused ({why})"),
            Outcome::Allowed(what) => write!(f, "ALLOWED ({what})"),
        }
    }
}

const G: &str = "sharing.workflows.dev";
/// A schedule trigger fires at the next minute boundary.
const FIRE_WAIT: Duration = Duration::from_secs(100);

struct Row {
    org: String,
    own: String,
    rcp: String,
    creator: String,
    actor: String,
    group: String,
}

impl Row {
    fn new(i: usize) -> Self {
        Row {
            org: format!("eoa{i}"),
            own: format!("eoa{i}-own"),
            rcp: format!("eoa{i}-rcp"),
            creator: format!("eoa{i}-creator"),
            actor: format!("eoa{i}-user"),
            group: format!("eoa{i}-team"),
        }
    }

    /// The workspace the actor uses the grant in.
    fn home(&self, grant: Grant) -> &str {
        match grant {
            Grant::Workspace | Grant::Organization => &self.rcp,
            _ => &self.own,
        }
    }

    fn entry(&self) -> String {
        format!("{}.wf", self.own)
    }

    /// The workflow as the actor runs or fires it: kind and name.
    fn runnable(&self, grant: Grant) -> (RunnableKind, String) {
        match grant {
            Grant::Workspace | Grant::Organization => (RunnableKind::SharedWorkflow, self.entry()),
            _ => (RunnableKind::Workflow, "wf".to_string()),
        }
    }
}

fn forbidden(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403)
}

async fn read(actor: &kube::Client, row: &Row) -> Outcome {
    let api: Api<Workflow> = Api::namespaced(actor.clone(), &row.own);
    match api.get("wf").await {
        Ok(_) => Outcome::Allowed("read the workflow".into()),
        Err(e) if forbidden(&e) => Outcome::Refused("403".into()),
        Err(e) => Outcome::Refused(format!("{e}")),
    }
}

async fn run(
    admin: &kube::Client,
    actor: &kube::Client,
    row: &Row,
    grant: Grant,
    name: &str,
) -> Outcome {
    let (kind, workflow) = row.runnable(grant);
    let ns = row.home(grant);
    let request = workflow_run(ns, name).runnable(kind, &workflow);
    if let Err(e) = apply(actor, &request).await {
        return if forbidden(&e) {
            Outcome::Refused("403".into())
        } else {
            Outcome::Refused(format!("{e}"))
        };
    }
    let (phase, reason) = run_decided(admin, ns, name).await;
    match phase {
        RunPhase::Accepted => Outcome::Allowed("run Accepted".into()),
        _ => Outcome::Refused(format!("run {reason}")),
    }
}

async fn clone(admin: &kube::Client, actor: &kube::Client, row: &Row) -> Outcome {
    let request = workflow_clone(&row.rcp, "after", &row.entry(), "copy");
    if let Err(e) = apply(actor, &request).await {
        return Outcome::Refused(if forbidden(&e) {
            "403".into()
        } else {
            e.to_string()
        });
    }
    let api: Api<WorkflowClone> = Api::namespaced(admin.clone(), &row.rcp);
    let reason = eventually("clone judged", WAIT, || async {
        let status = api.get("after").await.ok()?.status?;
        status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.reason.clone())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let copies: Api<Workflow> = Api::namespaced(admin.clone(), &row.rcp);
    match copies.get_opt("copy").await {
        Ok(Some(_)) => Outcome::Allowed(format!("copied ({reason})")),
        _ => Outcome::Refused(format!("clone {reason}")),
    }
}

/// The first fire of the actor's trigger scheduled after `after` (RFC 3339).
async fn fire(admin: &kube::Client, row: &Row, grant: Grant, after: jiff::Timestamp) -> Outcome {
    let api: Api<Trigger> = Api::namespaced(admin.clone(), row.home(grant));
    let outcome = eventually("a fire after the end", FIRE_WAIT, || async {
        let status = api.get("every-minute").await.ok()?.status?;
        status
            .recent_fires
            .iter()
            .find(|f| {
                f.scheduled_time
                    .parse::<jiff::Timestamp>()
                    .is_ok_and(|t| t > after)
            })
            .map(|f| f.outcome.clone())
    })
    .await;
    if outcome == "Created" {
        Outcome::Allowed("fired a run".into())
    } else {
        Outcome::Refused(format!("fire {outcome}"))
    }
}

/// Grants, uses once, ends, and uses again: the outcome of each use after the end.
async fn row(cp: &ControlPlane, i: usize, grant: Grant, end: End) -> Vec<(Use, Outcome)> {
    let admin = cp.admin().await;
    let row = Row::new(i);
    let (creator, actor) = grant_access(cp, &admin, &row, grant).await;
    use_before_the_end(&admin, &actor, &row, grant).await;
    // The end.
    let ended_at = jiff::Timestamp::now();
    end_access(cp, &admin, &creator, &row, grant, end).await;
    uses_after_the_end(&admin, &actor, &row, grant, end, ended_at).await
}

/// Makes the row's organization, the creator's workflow and the grant: the creator's
/// client and the actor's.
async fn grant_access(
    cp: &ControlPlane,
    admin: &kube::Client,
    row: &Row,
    grant: Grant,
) -> (kube::Client, kube::Client) {
    let mut org = organization(&row.org, &[&row.own, &row.rcp]);
    if grant == Grant::AuditView {
        org = org.auditor(&row.actor);
    }
    let mut objects = org
        .and(member(&row.own, "member", &row.creator))
        .and(member(&row.own, "member", "other"));
    match grant {
        Grant::Workspace | Grant::Organization => objects += member(&row.rcp, "owner", &row.actor),
        Grant::People => objects += member(&row.own, "member", &row.actor),
        Grant::Group => objects += group_member(&row.own, "member", &row.group),
        Grant::AuditView | Grant::Creator => {}
    }
    apply(admin, &objects).await.expect("organization");

    let creator = cp.impersonating(&row.creator, &[]).await;
    let actor = match grant {
        Grant::Creator => creator.clone(),
        Grant::Group => cp.impersonating(&row.actor, &[&row.group]).await,
        _ => cp.impersonating(&row.actor, &[]).await,
    };
    // The API server authorizes from its RBAC cache, which shows the membership just
    // applied a moment later (on a loaded machine, later than the next request).
    eventually("the creator may write workflows", WAIT, || async {
        can_i(&creator, "patch", G, "workflows", &row.own, Some("wf"))
            .await
            .then_some(())
    })
    .await;
    apply(&creator, &workflow(&row.own, "wf").display_name("Matrix"))
        .await
        .expect("workflow");
    eventually("the creator may share", WAIT, || async {
        can_i(&creator, "share", G, "workflows", &row.own, Some("wf"))
            .await
            .then_some(())
    })
    .await;
    let wf_share = share(&row.own, "share").workflow("wf");
    let shared = match grant {
        Grant::Workspace => Some(wf_share.to_workspaces(&[&row.rcp])),
        Grant::Organization => Some(wf_share.entire_organization()),
        Grant::People => Some(wf_share.to_users(&[&row.actor])),
        Grant::Group => Some(wf_share.to_groups(&[&row.group])),
        Grant::AuditView | Grant::Creator => None,
    };
    if let Some(shared) = &shared {
        apply(&creator, shared).await.expect("share");
    }
    (creator, actor)
}

/// The grant works before the end: the workflow is read, a run is accepted, and the
/// actor makes a schedule trigger.
async fn use_before_the_end(admin: &kube::Client, actor: &kube::Client, row: &Row, grant: Grant) {
    // Used for real before the end.
    eventually("the grant is used", WAIT, || async {
        matches!(read(actor, row).await, Outcome::Allowed(_)).then_some(())
    })
    .await;
    let home = row.home(grant).to_string();
    if matches!(grant, Grant::Workspace | Grant::Organization) {
        let entries: Api<SharedWorkflow> = Api::namespaced(actor.clone(), &home);
        eventually("the entry is enabled", WAIT, || async {
            entries
                .patch(
                    &row.entry(),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"enabled": true}})),
                )
                .await
                .ok()
        })
        .await;
    }
    if uses(grant).contains(&Use::Run) {
        let before = run(admin, actor, row, grant, "before").await;
        assert!(
            matches!(before, Outcome::Allowed(_)),
            "{grant:?}: the run before the end: {before}"
        );
        let (kind, workflow) = row.runnable(grant);
        let every_minute = trigger(&home, "every-minute")
            .runnable(kind, &workflow)
            .schedule("* * * * *");
        apply(actor, &every_minute).await.expect("trigger");
    }
}

/// Ends the grant the way `end` says; each way of ending succeeds.
async fn end_access(
    cp: &ControlPlane,
    admin: &kube::Client,
    creator: &kube::Client,
    row: &Row,
    grant: Grant,
    end: End,
) {
    let orgs: Api<workflow_share::resources::Organization> = Api::all(admin.clone());
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
    let bindings = |ns: &str| -> Api<k8s_openapi::api::rbac::v1::RoleBinding> {
        Api::namespaced(admin.clone(), ns)
    };
    let creator_workflows: Api<Workflow> = Api::namespaced(creator.clone(), &row.own);
    let unlabel = json!({"metadata": {"labels": {"sharing.workflows.dev/organization": null}}});
    match end {
        End::Revoke if grant == Grant::AuditView => {
            orgs.patch(
                &row.org,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"auditors": []}})),
            )
            .await
            .expect("auditor removed");
        }
        End::Revoke => {
            Api::<workflow_share::resources::WorkflowShare>::namespaced(creator.clone(), &row.own)
                .delete("share", &DeleteParams::default())
                .await
                .expect("revoked");
        }
        End::Archive => {
            creator_workflows
                .patch(
                    "wf",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"archived": true}})),
                )
                .await
                .expect("archived");
        }
        End::DeidentificationOff => {
            creator_workflows
                .patch(
                    "wf",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"deidentification": {"enabled": false}}})),
                )
                .await
                .expect("de-identification off");
        }
        End::LeaveWorkspace => {
            let (ns, binding) = match grant {
                Grant::Workspace | Grant::Organization => {
                    (&row.rcp, format!("owner-{}", row.actor))
                }
                Grant::People => (&row.own, format!("member-{}", row.actor)),
                Grant::Group => (&row.own, format!("member-{}", row.group)),
                Grant::Creator => (&row.own, format!("member-{}", row.creator)),
                Grant::AuditView => unreachable!("auditors belong to no workspace"),
            };
            bindings(ns)
                .delete(&binding, &DeleteParams::default())
                .await
                .expect("left the workspace");
        }
        End::WorkspaceLeavesOrganization => {
            let ns = match grant {
                Grant::Workspace | Grant::Organization => &row.rcp,
                _ => &row.own,
            };
            namespaces
                .patch(ns, &PatchParams::default(), &Patch::Merge(unlabel.clone()))
                .await
                .expect("left the organization");
        }
        End::OrganizationDeleted => {
            orgs.delete(&row.org, &DeleteParams::default())
                .await
                .expect("organization deleted");
        }
        End::DeletedAndNameReused => {
            // Deleted in the moment before its status records the share (the race
            // deletion protection cannot see), then made again by someone else.
            delete_before_the_share_is_recorded(admin, creator, &row.own, "wf").await;
            let other = cp.impersonating("other", &[]).await;
            apply(
                &other,
                &workflow(&row.own, "wf").display_name("Someone else's"),
            )
            .await
            .expect("made again by someone else");
        }
    }
}

/// Tries every use of the grant again after the end: the read must be refused (by
/// RBAC, within WAIT); the outcome of each use.
async fn uses_after_the_end(
    admin: &kube::Client,
    actor: &kube::Client,
    row: &Row,
    grant: Grant,
    end: End,
    ended_at: jiff::Timestamp,
) -> Vec<(Use, Outcome)> {
    // Reads end with RBAC; every other use is tried right after.
    let start = Instant::now();
    eventually(
        &format!("{grant:?} × {end:?}: the read is refused"),
        WAIT,
        || async { matches!(read(actor, row).await, Outcome::Refused(_)).then_some(()) },
    )
    .await;
    let read_ended = start.elapsed();
    let mut out = vec![(
        Use::Read,
        Outcome::Refused(format!("403 after {read_ended:.1?}")),
    )];
    for u in uses(grant) {
        let outcome = match u {
            Use::Read => continue,
            Use::Run => run(admin, actor, row, grant, "after").await,
            Use::Clone => clone(admin, actor, row).await,
            Use::Fire => fire(admin, row, grant, ended_at).await,
        };
        out.push((*u, outcome));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_way_access_ends_ends_every_use() {
    let cp = control_plane();
    let cells: Vec<(Grant, End)> = GRANTS
        .iter()
        .flat_map(|g| ENDS.iter().map(move |e| (*g, *e)))
        .filter(|(g, e)| ends(*g, *e))
        .collect();
    let results = join_all(
        cells
            .iter()
            .enumerate()
            .map(|(i, (g, e))| row(cp, i, *g, *e)),
    )
    .await;

    println!("\nEnd of access: each use tried as the user after the end\n");
    println!("| granted through | ended by | read | run | clone | trigger fire |");
    println!("|---|---|---|---|---|---|");
    let mut allowed = Vec::new();
    for ((grant, end), outcomes) in cells.iter().zip(&results) {
        let cell = |u: Use| {
            outcomes
                .iter()
                .find(|(x, _)| *x == u)
                .map_or("n/a".to_string(), |(_, o)| o.to_string())
        };
        println!(
            "| {grant:?} | {end:?} | {} | {} | {} | {} |",
            cell(Use::Read),
            cell(Use::Run),
            cell(Use::Clone),
            cell(Use::Fire)
        );
        for (u, o) in outcomes {
            if let Outcome::Allowed(what) = o {
                allowed.push(format!("{grant:?} × {end:?} × {u:?}: {what}"));
            }
        }
    }
    println!(
        "\n{} rows, {} uses refused after the end",
        cells.len(),
        results.iter().map(Vec::len).sum::<usize>()
    );
    assert!(
        allowed.is_empty(),
        "access outlived its end:\n{}",
        allowed.join("\n")
    );
}
