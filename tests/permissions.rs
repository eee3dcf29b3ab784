//! The access model as a generated table: every kind of person × every action ×
//! every tier, each cell a real request made with that person's own token against
//! the local API server (writes as server-side dry runs, so the objects stay), and
//! `workflow-share get` run as that person. The expected answer of each cell comes
//! from the rules below, not from a hand-written list; the table is printed.

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

    fn reference(self) -> &'static str {
        match self {
            Kind::Workflow => "workflowRef",
            Kind::Project => "projectRef",
            Kind::Trigger => "triggerRef",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Workflow => "workflows",
            Kind::Project => "projects",
            Kind::Trigger => "triggers",
        }
    }

    fn spec(self, name: &str) -> String {
        match self {
            Kind::Workflow | Kind::Project => format!("  displayName: {name}"),
            // A webhook trigger of alice's private workflow: it never fires by itself.
            Kind::Trigger => {
                "  type: Webhook\n  workflowRef: {kind: Workflow, name: private-plan}".into()
            }
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
            let resource = kind.share_resource();
            let shares: Api<DynamicObject> = Api::namespaced_with(client, O, &resource);
            let share: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "sharing.workflows.dev/v1alpha1",
                "kind": resource.kind,
                "metadata": {"name": format!("{name}-by-{}", row.user()), "namespace": O},
                "spec": {kind.reference(): {"name": name}, "workspaces": [R]},
            }))
            .expect("share");
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
    let mut yaml = organization_yaml(ORG, &[O, R]);
    yaml += &organization_yaml("pt-other-org", &[OTHER]);
    yaml += &member_yaml(O, "owner", "bob");
    yaml += &member_yaml(O, "member", "alice");
    yaml += &member_yaml(O, "member", "grace");
    yaml += &member_yaml(R, "member", "dave");
    // People are granted only within the organization: yamada is a member of R too.
    yaml += &role_binding_yaml(R, "member-yamada", "member", &[yamada_name()]);
    apply_yaml(&admin, &yaml).await.expect("organizations");
    let orgs: Api<workflow_share::resources::Organization> = Api::all(admin.clone());
    orgs.patch(
        ORG,
        &PatchParams::apply("pt-test"),
        &Patch::Apply(json!({
            "apiVersion": "sharing.workflows.dev/v1alpha1",
            "kind": "Organization",
            "metadata": {"name": ORG},
            "spec": {
                "deidentificationDefault": true,
                "auditors": [{"kind": "User", "name": "erin"}],
                "coordinators": [{"kind": "User", "name": "carol"}],
            },
        })),
    )
    .await
    .expect("auditors and coordinators");

    // alice, a plain member, creates one object of each kind per tier and, once the
    // controller has given her them, shares two of each.
    let alice = cp.as_user("alice").await;
    let mut docs = String::new();
    for kind in Kind::ALL {
        for tier in TIERS {
            let name = kind.object_of(tier);
            docs += &manifest(kind.kind(), O, &name, "", &kind.spec(&name));
        }
    }
    apply_yaml(&alice, &docs).await.expect("alice creates");
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
    let mut docs = String::new();
    for kind in Kind::ALL {
        for tier in TIERS {
            let name = kind.object_of(tier);
            let scope = match tier {
                Tier::Private => continue,
                // yamada's token authenticates with a long name in 2-, 3- and 4-byte UTF-8.
                Tier::Shared => format!(
                    "  people: {{users: [{}]}}",
                    serde_json::to_string(&yamada_name()).expect("json")
                ),
                Tier::Organization => "  entireOrganization: true".to_string(),
            };
            docs += &manifest(
                kind.share_resource().kind.as_str(),
                O,
                &name,
                "",
                &format!("  {}: {{name: {name}}}\n{scope}", kind.reference()),
            );
        }
    }
    apply_yaml(&alice, &docs).await.expect("alice shares");

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

#[tokio::test]
async fn refusals_say_who_may() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let mut yaml = organization_yaml("rf-org", &["rf-sales", "rf-support"]);
    yaml += &member_yaml("rf-sales", "owner", "bob");
    yaml += &member_yaml("rf-sales", "member", "alice");
    yaml += &member_yaml("rf-sales", "member", "grace");
    apply_yaml(&admin, &yaml).await.expect("organization");
    let alice = cp.as_user("alice").await;
    apply_yaml(
        &alice,
        &manifest("Workflow", "rf-sales", "notes", "", "  displayName: notes"),
    )
    .await
    .expect("alice creates");
    until_known::<Workflow>(&admin, "rf-sales", "notes").await;

    // An owner holds broad RBAC but is not the creator.
    let bob = cp.as_user("bob").await;
    let workflows: Api<Workflow> = Api::namespaced(bob.clone(), "rf-sales");
    let err = workflows
        .patch(
            "notes",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"description": "mine now"}})),
        )
        .await
        .expect_err("owner cannot edit");
    assert!(
        err.to_string()
            .contains("only the creator of workflow notes (alice) may change or delete it"),
        "{err}"
    );

    // A member cannot share what someone else created.
    let grace = cp.as_user("grace").await;
    let err = apply_yaml(
        &grace,
        &manifest(
            "WorkflowShare",
            "rf-sales",
            "notes",
            "",
            "  workflowRef: {name: notes}\n  workspaces: [rf-support]",
        ),
    )
    .await
    .expect_err("member cannot share");
    assert!(
        err.to_string()
            .contains("grace may not share workflow notes"),
        "{err}"
    );

    // Under the strict policy the creator may not share either; the owner still may.
    let orgs: Api<workflow_share::resources::Organization> = Api::all(admin.clone());
    orgs.patch(
        "rf-org",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"sharingPolicy": "ManagersOnly"}})),
    )
    .await
    .expect("strict policy");
    eventually("creator loses share", WAIT, || async {
        (!can_i(
            &alice,
            "share",
            "sharing.workflows.dev",
            "workflows",
            "rf-sales",
            Some("notes"),
        )
        .await)
            .then_some(())
    })
    .await;
    assert!(
        can_i(
            &bob,
            "share",
            "sharing.workflows.dev",
            "workflows",
            "rf-sales",
            Some("notes")
        )
        .await
    );
    assert!(
        can_i(
            &alice,
            "patch",
            "sharing.workflows.dev",
            "workflows",
            "rf-sales",
            Some("notes")
        )
        .await,
        "still edits"
    );

    // Joining an organization needs the verb join on it, even for someone who may
    // create and edit namespaces.
    apply_yaml(
        &admin,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: rf-namespace-editor\nrules:\n- apiGroups: ['']\n  resources: [namespaces]\n  verbs: [get, create, update, patch]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: rf-namespace-editor\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: rf-namespace-editor}\nsubjects:\n- {apiGroup: rbac.authorization.k8s.io, kind: User, name: frank}\n",
    )
    .await
    .expect("namespace editor");
    let frank = cp.as_user("frank").await;
    let plain =
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: rf-sneaky\n  labels: {team: x}\n";
    apply_yaml(&frank, plain)
        .await
        .expect("a plain namespace is fine");
    let joined = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: rf-sneaky\n  labels: {team: x, sharing.workflows.dev/organization: rf-org}\n";
    let err = apply_yaml(&frank, joined).await.expect_err("no join verb");
    assert!(
        err.to_string()
            .contains("requires the verb join on organizations/rf-org"),
        "{err}"
    );
    apply_yaml(&frank, &plain.replace("team: x", "team: y"))
        .await
        .expect("edits that leave the label alone pass");
    apply_yaml(
        &admin,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: rf-joiner\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: workflow-share-organization-joiner}\nsubjects:\n- {apiGroup: rbac.authorization.k8s.io, kind: User, name: frank}\n",
    )
    .await
    .expect("delegate join");
    eventually("frank may join now", WAIT, || async {
        apply_yaml(&frank, joined).await.ok()
    })
    .await;
}

#[tokio::test]
async fn a_share_stops_granting_when_its_author_may_no_longer_share() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("lv-sales", "lv-support");
    let mut yaml = organization_yaml("lv-org", &[sales, support]);
    yaml += &member_yaml(sales, "member", "alice");
    yaml += &member_yaml(support, "member", "dave");
    apply_yaml(&admin, &yaml).await.expect("organization");
    let alice = cp.as_user("alice").await;
    apply_yaml(
        &alice,
        &manifest("Workflow", sales, "digest", "", "  displayName: digest"),
    )
    .await
    .expect("alice creates");
    eventually("alice may share her workflow", WAIT, || async {
        can_i(
            &alice,
            "share",
            "sharing.workflows.dev",
            "workflows",
            sales,
            Some("digest"),
        )
        .await
        .then_some(())
    })
    .await;
    apply_yaml(
        &alice,
        &manifest(
            "WorkflowShare",
            sales,
            "digest",
            "",
            "  workflowRef: {name: digest}\n  workspaces: [lv-support]",
        ),
    )
    .await
    .expect("alice shares");
    let dave = cp.as_user("dave").await;
    let dave_reads = || async {
        can_i(
            &dave,
            "get",
            "sharing.workflows.dev",
            "workflows",
            sales,
            Some("digest"),
        )
        .await
    };
    eventually("dave reads the shared workflow", WAIT, || async {
        dave_reads().await.then_some(())
    })
    .await;

    // The organization reserves sharing to owners and managers: alice's share stops.
    let orgs: Api<workflow_share::resources::Organization> = Api::all(admin.clone());
    let policy = |p: &'static str| {
        let orgs = orgs.clone();
        async move {
            orgs.patch(
                "lv-org",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"sharingPolicy": p}})),
            )
            .await
            .expect("policy");
        }
    };
    policy("ManagersOnly").await;
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    eventually(
        "the share is refused and access withdrawn",
        WAIT,
        || async {
            let s = shares.get("digest").await.ok()?.status?;
            let refused = s.grants.iter().all(|g| {
                g.reason == "SharerNotAllowed"
                    && g.state == workflow_share::resources::GrantState::Rejected
            });
            let gone = !entry_exists(&admin, support, "lv-sales.digest").await;
            (refused && gone && !dave_reads().await).then_some(())
        },
    )
    .await;

    // Allowed again: the same share grants again, without anyone touching it.
    policy("CreatorsAndManagers").await;
    eventually("granted again", WAIT, || async {
        (dave_reads().await && entry_exists(&admin, support, "lv-sales.digest").await).then_some(())
    })
    .await;
}
