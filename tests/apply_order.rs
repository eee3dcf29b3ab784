//! Apply order never decides: a creator's object and its share, applied together with
//! kubectl in either order, are accepted on the first try and converge. A share of an
//! object that does not exist yet is decided by the controller; once the object
//! exists, the API server refuses anyone who may not share it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::*;
use workflow_share::resources::{
    GrantState, Project, ProjectShare, Trigger, TriggerShare, Workflow, WorkflowShare,
    WorkflowShareStatus,
};

const WAIT: Duration = Duration::from_secs(30);

/// Runs kubectl as `user` (a context of the test kubeconfig) and returns whether it
/// succeeded, and its output.
fn kubectl(cp: &ControlPlane, user: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(cp.dir.join("kubectl"))
        .args(["--context", user])
        .args(args)
        .arg("-f")
        .arg(dir)
        .env("KUBECONFIG", cp.dir.join("kubeconfig"))
        .output()
        .expect("kubectl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A directory holding `files` (name, objects), as YAML: kubectl applies them in name
/// order.
fn directory(cp: &ControlPlane, name: &str, files: &[(&str, Objects)]) -> PathBuf {
    let dir = cp.dir.join("apply-order").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    for (file, objects) in files {
        std::fs::write(dir.join(file), to_yaml(objects)).expect("write");
    }
    dir
}

fn starting(ns: &str, name: &str) -> Builder<Workflow> {
    workflow(ns, name).steps(&["start"])
}

/// The one grant of a share once decided (not Pending).
async fn decided(status: Option<WorkflowShareStatus>) -> Option<(GrantState, String)> {
    let grant = status?.grants.into_iter().next()?;
    (grant.state != GrantState::Pending).then_some((grant.state, grant.reason))
}

/// Waits until `user` may get `name` of `K` in `ns`: a real read as that user.
async fn readable_by<K>(cp: &ControlPlane, user: &str, ns: &str, name: &str)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let client = cp.as_user(user).await;
    let api: Api<K> = Api::namespaced(client, ns);
    eventually(&format!("{user} reads {name}"), WAIT, || async {
        api.get(name).await.ok().map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn a_creators_workflow_and_share_are_accepted_together_in_either_order() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("ao1-sales", "ao1-support");
    let mut objects = organization("ao1-org", &[sales, support])
        .and(member(sales, "member", "bob"))
        .and(member(support, "member", "carol"));
    // Plain `kubectl apply` reads before it writes: this platform lets its members
    // read the workspace's workflows (members alone cannot, by design).
    let read = rule(&["sharing.workflows.dev"], &["workflows"], &["get"]);
    objects += role(sales, "read-workflows", vec![read]);
    objects +=
        role_binding(sales, "read-workflows", role_ref("Role", "read-workflows")).user("bob");
    apply(&admin, &objects).await.expect("setup");

    let ways: [(&str, &[&str]); 3] = [
        ("ssa", &["apply", "--server-side"]),
        ("create", &["create"]),
        ("apply", &["apply"]),
    ];
    let mut applied = Vec::new();
    for (way, args) in ways {
        for share_first in [true, false] {
            let name = format!(
                "{way}-{}",
                if share_first {
                    "share-first"
                } else {
                    "object-first"
                }
            );
            let shared = Objects::of(
                share(sales, &name)
                    .workflow(&name)
                    .to_workspaces(&[support]),
            );
            let object = Objects::of(starting(sales, &name));
            let (a, b) = if share_first {
                (shared, object)
            } else {
                (object, shared)
            };
            let dir = directory(cp, &name, &[("1.yaml", a), ("2.yaml", b)]);
            let (ok, out) = kubectl(cp, "bob", args, &dir);
            assert!(
                ok,
                "bob's `kubectl {}` of {name} was refused: {out}",
                args.join(" ")
            );
            applied.push(name);
        }
    }
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    for name in &applied {
        let (state, reason) = eventually(&format!("share {name} decided"), WAIT, || async {
            decided(shares.get(name).await.ok()?.status).await
        })
        .await;
        assert_eq!(
            (state, reason.as_str()),
            (GrantState::Active, "Granted"),
            "share {name}"
        );
        readable_by::<Workflow>(cp, "carol", sales, name).await;
    }
}

#[tokio::test]
async fn a_creators_project_and_trigger_shares_are_accepted_before_their_objects() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("ao2-sales", "ao2-support");
    let objects = organization("ao2-org", &[sales, support])
        .and(member(sales, "member", "bob"))
        .and(member(support, "member", "carol"));
    apply(&admin, &objects).await.expect("setup");

    let project = directory(
        cp,
        "ao2-project",
        &[
            (
                "1-share.yaml",
                Objects::of(
                    share(sales, "roadmap")
                        .project("roadmap")
                        .to_workspaces(&[support]),
                ),
            ),
            (
                "2-project.yaml",
                Objects::of(project(sales, "roadmap").display_name("Feuille de route")),
            ),
        ],
    );
    let (ok, out) = kubectl(cp, "bob", &["apply", "--server-side"], &project);
    assert!(ok, "bob's project and share: {out}");
    let trigger = directory(
        cp,
        "ao2-trigger",
        &[
            (
                "1-share.yaml",
                Objects::of(
                    share(sales, "nightly")
                        .trigger("nightly")
                        .to_workspaces(&[support]),
                ),
            ),
            ("2-workflow.yaml", Objects::of(starting(sales, "report"))),
            (
                "3-trigger.yaml",
                Objects::of(
                    trigger(sales, "nightly")
                        .workflow("report")
                        .schedule("0 3 * * *"),
                ),
            ),
        ],
    );
    let (ok, out) = kubectl(cp, "bob", &["create"], &trigger);
    assert!(ok, "bob's trigger and share: {out}");

    let projects: Api<ProjectShare> = Api::namespaced(admin.clone(), sales);
    let triggers: Api<TriggerShare> = Api::namespaced(admin.clone(), sales);
    let project_share = eventually("project share decided", WAIT, || async {
        decided(projects.get("roadmap").await.ok()?.status).await
    })
    .await;
    let trigger_share = eventually("trigger share decided", WAIT, || async {
        decided(triggers.get("nightly").await.ok()?.status).await
    })
    .await;
    assert_eq!(project_share.0, GrantState::Active, "{project_share:?}");
    assert_eq!(trigger_share.0, GrantState::Active, "{trigger_share:?}");
    readable_by::<Project>(cp, "carol", sales, "roadmap").await;
    readable_by::<Trigger>(cp, "carol", sales, "nightly").await;
}

#[tokio::test]
async fn only_the_creator_gains_from_a_share_made_before_the_object() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("ao3-sales", "ao3-support");
    let objects = organization("ao3-org", &[sales, support])
        .and(member(sales, "member", "bob"))
        .and(member(sales, "member", "grace"))
        .and(member(support, "member", "carol"));
    apply(&admin, &objects).await.expect("setup");
    let bob = cp.as_user("bob").await;
    let grace = cp.as_user("grace").await;
    let carol = cp.as_user("carol").await;
    let as_grace: Api<WorkflowShare> = Api::namespaced(grace.clone(), sales);
    let as_bob: Api<WorkflowShare> = Api::namespaced(bob.clone(), sales);
    let by_admin: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    let share_of = |name: &str, target: &str| -> WorkflowShare {
        share(sales, name)
            .workflow(target)
            .to_workspaces(&[support])
            .build()
    };

    // Once bob's workflow reports who made it, the API server knows it exists:
    // grace, who may not share it, is refused at once.
    apply(&bob, &starting(sales, "guarded"))
        .await
        .expect("bob's workflow");
    let workflows: Api<Workflow> = Api::namespaced(admin.clone(), sales);
    eventually("guarded reports its creator", WAIT, || async {
        workflows
            .get("guarded")
            .await
            .ok()?
            .status?
            .creator
            .map(|_| ())
    })
    .await;
    let refused = as_grace
        .create(
            &PostParams::default(),
            &share_of("grace-guarded", "guarded"),
        )
        .await
        .expect_err("grace may not share bob's workflow");
    assert!(
        refused
            .to_string()
            .contains("grace may not share workflow guarded"),
        "{refused}"
    );

    // grace shares a name before bob makes it: accepted, and decided by the
    // controller once it exists. Nothing reaches support.
    as_grace
        .create(&PostParams::default(), &share_of("grace-early", "not-yet"))
        .await
        .expect("a share of what does not exist yet is accepted");
    apply(&bob, &starting(sales, "not-yet"))
        .await
        .expect("bob's workflow");
    let (state, reason) = eventually("grace's early share decided", WAIT, || async {
        decided(by_admin.get("grace-early").await.ok()?.status).await
    })
    .await;
    assert_eq!(
        (state, reason.as_str()),
        (GrantState::Rejected, "SharerNotAllowed")
    );
    let carols: Api<Workflow> = Api::namespaced(carol.clone(), sales);
    let read = carols.get("not-yet").await;
    assert!(read.is_err(), "carol must not read not-yet: {read:?}");
    assert!(!entry_exists(&admin, support, "ao3-sales.not-yet").await);

    // bob's share made before his workflow: grace can neither change nor delete it.
    as_bob
        .create(&PostParams::default(), &share_of("bob-early", "later"))
        .await
        .expect("bob's share of what he is about to make");
    let widened = as_grace
        .patch(
            "bob-early",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"workspaces": [support, sales]}})),
        )
        .await;
    assert!(widened.is_err(), "grace changed bob's share: {widened:?}");
    let deleted = as_grace.delete("bob-early", &DeleteParams::default()).await;
    assert!(deleted.is_err(), "grace deleted bob's share");
    apply(&bob, &starting(sales, "later"))
        .await
        .expect("bob's workflow");
    let (state, _) = eventually("bob's early share decided", WAIT, || async {
        decided(by_admin.get("bob-early").await.ok()?.status).await
    })
    .await;
    assert_eq!(state, GrantState::Active);
    readable_by::<Workflow>(cp, "carol", sales, "later").await;
}
