//! The access model as a generated table: every kind of person × every action ×
//! every tier, each cell a real request made with that person's own token against
//! the local API server (writes as server-side dry runs, so the objects stay), and
//! `workflow-share get` run as that person. The expected answer of each cell comes
//! from the rules below, not from a hand-written list; the table is printed.
//! (Refusals that say who may, and the sharing policy, are in `refusals.rs`.)

mod support;

use std::fmt::Write as _;
use std::process::Command;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;
use support::*;
use workflow_share::resources::{Tier, Workflow, WorkflowShare};

const ORG: &str = "pt-org";
/// The owner workspace O.
const O: &str = "pt-sales";
/// Another workspace R of the same organization.
const R: &str = "pt-support";
/// A workspace of another organization.
const OTHER: &str = "pt-elsewhere";

/// Who is asking, one per row of the table; each has a token of their own.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Row {
    Creator,
    OwnerOfO,
    Coordinator,
    Auditor,
    NamedPerson,
    MemberOfR,
    MemberOfONotNamed,
    Outsider,
}

impl Row {
    const ALL: [Row; 8] = [
        Row::Creator,
        Row::OwnerOfO,
        Row::Coordinator,
        Row::Auditor,
        Row::NamedPerson,
        Row::MemberOfR,
        Row::MemberOfONotNamed,
        Row::Outsider,
    ];

    fn user(self) -> &'static str {
        match self {
            Row::Creator => "alice",
            Row::OwnerOfO => "bob",
            Row::Coordinator => "carol",
            Row::Auditor => "erin",
            Row::NamedPerson => "yamada",
            Row::MemberOfR => "dave",
            Row::MemberOfONotNamed => "grace",
            Row::Outsider => "frank",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Row::Creator => "the creator (a member of O)",
            Row::OwnerOfO => "an owner of O",
            Row::Coordinator => "a coordinator",
            Row::Auditor => "an auditor",
            Row::NamedPerson => "named in the share (in R)",
            Row::MemberOfR => "a member of R",
            Row::MemberOfONotNamed => "a member of O, not named",
            Row::Outsider => "anyone else",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Action {
    See,
    Edit,
    Delete,
    Share,
    ListWithGet,
}

impl Action {
    const ALL: [Action; 5] = [
        Action::See,
        Action::Edit,
        Action::Delete,
        Action::Share,
        Action::ListWithGet,
    ];

    fn label(self) -> &'static str {
        match self {
            Action::See => "see",
            Action::Edit => "edit",
            Action::Delete => "delete",
            Action::Share => "share",
            Action::ListWithGet => "get-cmd",
        }
    }
}

const TIERS: [Tier; 3] = [Tier::Private, Tier::Shared, Tier::Organization];

/// Whom a share reaches.
#[derive(Clone, Copy, Debug, PartialEq)]
enum To {
    /// The workspace R.
    R,
    /// yamada, whose token authenticates with a long name in 2-, 3- and 4-byte UTF-8.
    Yamada,
    /// The entire organization.
    Organization,
}

impl To {
    fn recipients<S: Recipients>(self, share: S) -> S {
        match self {
            To::R => share.to_workspaces(&[R]),
            To::Yamada => share.to_users(&[yamada_name()]),
            To::Organization => share.entire_organization(),
        }
    }
}

/// The kinds shared by the same rules.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Workflow,
    Project,
    Trigger,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Workflow, Kind::Project, Kind::Trigger];

    fn api_resource(self) -> ApiResource {
        match self {
            Kind::Workflow => api_resource::<Workflow>(),
            Kind::Project => api_resource::<workflow_share::resources::Project>(),
            Kind::Trigger => api_resource::<workflow_share::resources::Trigger>(),
        }
    }

    fn share_resource(self) -> ApiResource {
        match self {
            Kind::Workflow => api_resource::<WorkflowShare>(),
            Kind::Project => api_resource::<workflow_share::resources::ProjectShare>(),
            Kind::Trigger => api_resource::<workflow_share::resources::TriggerShare>(),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Kind::Workflow => "Workflow",
            Kind::Project => "Project",
            Kind::Trigger => "Trigger",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Workflow => "workflows",
            Kind::Project => "projects",
            Kind::Trigger => "triggers",
        }
    }

    /// The object `name` of this kind in O.
    fn object(self, name: &str) -> Objects {
        match self {
            Kind::Workflow => Objects::of(workflow(O, name)),
            Kind::Project => Objects::of(project(O, name)),
            // A webhook trigger of alice's private workflow: it never fires by itself.
            Kind::Trigger => Objects::of(trigger(O, name).webhook().workflow("private-plan")),
        }
    }

    /// The share `name` in O of this kind's `object`, to `to`.
    fn share(self, name: &str, object: &str, to: To) -> Objects {
        let share = share(O, name);
        match self {
            Kind::Workflow => Objects::of(to.recipients(share.workflow(object))),
            Kind::Project => Objects::of(to.recipients(share.project(object))),
            Kind::Trigger => Objects::of(to.recipients(share.trigger(object))),
        }
    }

    fn object_of(self, tier: Tier) -> String {
        let base = match tier {
            Tier::Private => "private-plan",
            Tier::Shared => "shared-plan",
            Tier::Organization => "org-plan",
        };
        match self {
            Kind::Workflow => base.to_string(),
            Kind::Project => format!("{base}-project"),
            Kind::Trigger => format!("{base}-trigger"),
        }
    }
}

/// The rules of the access model: who may see, edit, delete and share a workflow,
/// a project or a trigger.
fn expected(kind: Kind, row: Row, action: Action, tier: Tier) -> bool {
    let audit_view = matches!(
        row,
        Row::Creator | Row::OwnerOfO | Row::Coordinator | Row::Auditor
    );
    let sees = audit_view
        || (row == Row::NamedPerson && tier == Tier::Shared)
        || (matches!(
            row,
            Row::MemberOfR | Row::MemberOfONotNamed | Row::NamedPerson
        ) && tier == Tier::Organization);
    match action {
        Action::See | Action::ListWithGet => sees,
        Action::Edit => row == Row::Creator,
        // A shared workflow cannot be deleted until its sharing is revoked.
        Action::Delete => row == Row::Creator && (tier == Tier::Private || kind != Kind::Workflow),
        Action::Share => matches!(row, Row::Creator | Row::OwnerOfO | Row::Coordinator),
    }
}

fn allowed<T>(result: Result<T, kube::Error>, what: &str) -> bool {
    match result {
        Ok(_) => true,
        Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => false,
        Err(e) => panic!("{what}: unexpected error {e}"),
    }
}

fn dry_run_patch() -> PatchParams {
    PatchParams {
        dry_run: true,
        ..Default::default()
    }
}

async fn attempt(cp: &ControlPlane, kind: Kind, row: Row, action: Action, tier: Tier) -> bool {
    let client = cp.as_user(row.user()).await;
    let name = kind.object_of(tier);
    let name = name.as_str();
    let objects: Api<DynamicObject> = Api::namespaced_with(client.clone(), O, &kind.api_resource());
    let what = format!("{} {} {name}", row.user(), action.label());
    match action {
        Action::See => allowed(objects.get(name).await, &what),
        Action::Edit => allowed(
            objects
                .patch(
                    name,
                    &dry_run_patch(),
                    &Patch::Merge(json!({"spec": {"suspend": true, "description": "edited"}})),
                )
                .await,
            &what,
        ),
        Action::Delete => allowed(
            objects
                .delete(
                    name,
                    &DeleteParams {
                        dry_run: true,
                        ..Default::default()
                    },
                )
                .await,
            &what,
        ),
        Action::Share => {
            let shares: Api<DynamicObject> =
                Api::namespaced_with(client, O, &kind.share_resource());
            let share = to_dynamic(&kind.share(&format!("{name}-by-{}", row.user()), name, To::R));
            let params = PostParams {
                dry_run: true,
                ..Default::default()
            };
            allowed(shares.create(&params, &share).await, &what)
        }
        Action::ListWithGet => {
            let out = Command::new(env!("CARGO_BIN_EXE_workflow-share"))
                .args(["get", kind.plural(), "-n", O, "--context", row.user()])
                .env("KUBECONFIG", cp.dir.join("kubeconfig"))
                .output()
                .expect("run workflow-share get");
            assert!(
                out.status.success(),
                "{what}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name))
        }
    }
}

#[tokio::test]
async fn the_access_table_holds_for_every_kind_person_action_and_tier() {
    let cp = control_plane();
    let admin = cp.admin().await;

    // O and R in one organization, OTHER in another; carol coordinates and erin
    // audits the organization; bob owns O, alice and grace are members of O, dave of R.
    let objects = organization(ORG, &[O, R])
        .and(organization("pt-other-org", &[OTHER]))
        .and(member(O, "owner", "bob"))
        .and(member(O, "member", "alice"))
        .and(member(O, "member", "grace"))
        .and(member(R, "member", "dave"))
        // People are granted only within the organization: yamada is a member of R too.
        .and(role_binding(R, "member-yamada", workspace_role("member")).user(&yamada_name()));
    apply(&admin, &objects).await.expect("organizations");
    let roles = organization(ORG, &[]).auditor("erin").coordinator("carol");
    apply_with(&admin, &PatchParams::apply("pt-test"), &roles)
        .await
        .expect("auditors and coordinators");

    // alice, a plain member, creates one object of each kind per tier and, once the
    // controller has given her them, shares two of each.
    let alice = cp.as_user("alice").await;
    let mut objects = Objects::default();
    for kind in Kind::ALL {
        for tier in TIERS {
            objects += kind.object(&kind.object_of(tier));
        }
    }
    apply(&alice, &objects).await.expect("alice creates");
    for kind in Kind::ALL {
        for tier in TIERS {
            let name = kind.object_of(tier);
            eventually("the creator may share", WAIT, || async {
                can_i(
                    &alice,
                    "share",
                    "sharing.workflows.dev",
                    kind.plural(),
                    O,
                    Some(&name),
                )
                .await
                .then_some(())
            })
            .await;
        }
    }
    let mut shares = Objects::default();
    for kind in Kind::ALL {
        for tier in TIERS {
            let name = kind.object_of(tier);
            let to = match tier {
                Tier::Private => continue,
                Tier::Shared => To::Yamada,
                Tier::Organization => To::Organization,
            };
            shares += kind.share(&name, &name, to);
        }
    }
    apply(&alice, &shares).await.expect("alice shares");

    // Wait until the controller shows each tier and the organization roles are bound.
    for kind in Kind::ALL {
        let objects: Api<DynamicObject> =
            Api::namespaced_with(admin.clone(), O, &kind.api_resource());
        for tier in TIERS {
            let name = kind.object_of(tier);
            eventually(
                &format!("{kind:?} {tier:?} tier converged"),
                WAIT,
                || async {
                    let obj = objects.get(&name).await.ok()?;
                    let shown = obj.data.get("status")?.get("tier")?.as_str()?.to_string();
                    (shown == format!("{tier:?}")).then_some(())
                },
            )
            .await;
        }
    }
    let erin = cp.as_user("erin").await;
    let carol = cp.as_user("carol").await;
    eventually("organization roles bound", WAIT, || async {
        let audits = can_i(&erin, "list", "sharing.workflows.dev", "workflows", O, None).await;
        let shares = can_i(
            &carol,
            "share",
            "sharing.workflows.dev",
            "workflows",
            O,
            Some("x"),
        )
        .await;
        (audits && shares).then_some(())
    })
    .await;

    let mut report = String::new();
    let _ = write!(report, "{:<9} {:<30} {:<13}", "kind", "you are", "tier");
    for action in Action::ALL {
        let _ = write!(report, " {:<8}", action.label());
    }
    report.push('\n');
    let mut wrong = Vec::new();
    for kind in Kind::ALL {
        for row in Row::ALL {
            for tier in TIERS {
                let _ = write!(
                    report,
                    "{:<9} {:<30} {:<13}",
                    kind.kind(),
                    row.label(),
                    format!("{tier:?}")
                );
                for action in Action::ALL {
                    let got = attempt(cp, kind, row, action, tier).await;
                    let want = expected(kind, row, action, tier);
                    let cell = match (got, want) {
                        (true, true) => "yes",
                        (false, false) => "no",
                        (true, false) => "YES(!)",
                        (false, true) => "NO(!)",
                    };
                    if got != want {
                        wrong.push(format!(
                            "{} {} {} {tier:?}",
                            kind.kind(),
                            row.label(),
                            action.label()
                        ));
                    }
                    let _ = write!(report, " {cell:<8}");
                }
                report.push('\n');
            }
        }
    }
    println!("{report}");
    assert!(
        wrong.is_empty(),
        "cells that differ from the rules: {wrong:?}\n{report}"
    );
}
