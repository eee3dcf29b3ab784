//! A corpus of invalid and hostile manifests, each sent by a real user (their own
//! token) to the real API server: every one is refused with a message naming the
//! field or the rule, and nothing of it is applied. Then the ones the API server
//! accepts by design: targets outside the organization are reported in status and
//! granted nothing; forged creator and run-as stamps are replaced; nobody obtains
//! through the controller access they could not grant themselves.

mod support;

use kube::api::{Api, DynamicObject};
use support::*;
use workflow_share::resources::{Workflow, WorkflowRun, WorkflowShare};

const SALES: &str = "hx-sales";
const SUPPORT: &str = "hx-support";
const G: &str = "sharing.workflows.dev";

struct Case {
    what: String,
    who: &'static str,
    yaml: String,
    expect: &'static str,
}

fn case(what: &str, who: &'static str, yaml: String, expect: &'static str) -> Case {
    Case {
        what: what.to_string(),
        who,
        yaml,
        expect,
    }
}

/// One YAML document of one of our kinds; `metadata_extra` and `spec` are
/// pre-indented YAML lines.
fn manifest(kind: &str, ns: &str, name: &str, metadata_extra: &str, spec: &str) -> String {
    format!(
        "\n---\napiVersion: {G}/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\n{metadata_extra}spec:\n{spec}\n"
    )
}

fn share(name: &str, spec: &str) -> String {
    manifest("WorkflowShare", SALES, name, "", spec)
}

fn workflow(name: &str, spec: &str) -> String {
    manifest("Workflow", SALES, name, "", spec)
}

fn trigger(name: &str, spec: &str) -> String {
    manifest("Trigger", SALES, name, "", spec)
}

fn run(name: &str, spec: &str) -> String {
    manifest("WorkflowRun", SALES, name, "", spec)
}

fn organization(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: {G}/v1alpha1\nkind: Organization\nmetadata:\n  name: {name}\nspec:\n{spec}\n"
    )
}

fn list(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

fn labelled_rbac(kind: &str, name: &str, body: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {SALES}\n  labels:\n    app.kubernetes.io/managed-by: workflow-share\n    sharing.workflows.dev/source-namespace: {SALES}\n    sharing.workflows.dev/source-workflow: base\n{body}"
    )
}

fn corpus() -> Vec<Case> {
    let long = |n: usize| "x".repeat(n);
    let many_workspaces = list((0..1001).map(|i| format!("ws-{i}")));
    let many_users = list((0..1001).map(|i| format!("u{i}")));
    let steps = list((0..501).map(|i| format!("{{name: s{i}}}")));
    let documents = list((0..201).map(|i| format!("{{title: d{i}, reference: r}}")));
    vec![
        // Shares: shape.
        case("a namespace in workflowRef", "alice", share("h01", "  workflowRef: {name: base, namespace: hx-support}"), "spec.workflowRef.namespace"),
        case("an empty workflow name", "alice", share("h02", "  workflowRef: {name: ''}"), "spec.workflowRef.name"),
        case("no workflowRef", "alice", share("h03", "  workspaces: [hx-support]"), "spec.workflowRef: Required value"),
        case("a workspace that is no namespace name", "alice", share("h04", "  workflowRef: {name: base}\n  workspaces: [Not_A_Name]"), "spec.workspaces[0]"),
        case("a workspace name past 63 characters", "alice", share("h05", &format!("  workflowRef: {{name: base}}\n  workspaces: [{}]", long(64))), "spec.workspaces[0]"),
        case("a look-alike workspace (Cyrillic o)", "alice", share("h06", "  workflowRef: {name: base}\n  workspaces: [hx-supp\u{043e}rt]"), "spec.workspaces[0]"),
        case("a workspace twice", "alice", share("h07", "  workflowRef: {name: base}\n  workspaces: [hx-support, hx-support]"), "spec.workspaces"),
        case("1001 workspaces", "alice", share("h08", &format!("  workflowRef: {{name: base}}\n  workspaces: {many_workspaces}")), "spec.workspaces: Too many"),
        case("an unknown access mode", "alice", share("h09", "  workflowRef: {name: base}\n  access: Edit"), "spec.access: Unsupported value"),
        case("a share with its own workspace", "alice", share("h10", "  workflowRef: {name: base}\n  workspaces: [hx-sales]"), "own workspace"),
        case("a person with an empty name", "alice", share("h11", "  workflowRef: {name: base}\n  people: {users: ['']}"), "spec.people.users[0]"),
        case("1001 people", "alice", share("h12", &format!("  workflowRef: {{name: base}}\n  people: {{users: {many_users}}}")), "spec.people.users: Too many"),
        case("a person's name past 256 characters", "alice", share("h13", &format!("  workflowRef: {{name: base}}\n  people: {{users: [{}]}}", long(257))), "spec.people.users[0]: Too long"),
        case("1001 groups", "alice", share("h14", &format!("  workflowRef: {{name: base}}\n  people: {{groups: {many_users}}}")), "spec.people.groups: Too many"),
        case("a share name past 253 characters", "alice", share(&long(254), "  workflowRef: {name: base}"), "metadata.name"),
        case("a workflow name past 253 characters", "alice", share("h16", &format!("  workflowRef: {{name: {}}}", long(254))), "spec.workflowRef.name: Too long"),
        // Shares: who.
        case("a member sharing someone else's workflow", "bob", share("h17", "  workflowRef: {name: base}\n  workspaces: [hx-support]"), "bob may not share workflow base"),
        case("an outsider sharing", "frank", share("h18", "  workflowRef: {name: base}\n  workspaces: [hx-support]"), "forbidden"),
        case("a member re-pointing a share at another workflow", "alice", share("shared", "  workflowRef: {name: bobs}\n  workspaces: [hx-support]"), "spec.workflowRef.name"),
        case("a member taking over someone else's share", "bob", share("shared", "  workflowRef: {name: base}\n  workspaces: [hx-support, hx-foreign]"), "bob may not share workflow base"),
        // Workflows.
        case("an empty display name", "alice", workflow("h21", "  displayName: ''"), "spec.displayName"),
        case("a display name past 256 characters", "alice", workflow("h22", &format!("  displayName: {}", long(257))), "spec.displayName: Too long"),
        case("a description past 4096 characters", "alice", workflow("h23", &format!("  displayName: d\n  description: {}", long(4097))), "spec.description: Too long"),
        case("501 steps", "alice", workflow("h24", &format!("  displayName: d\n  definition: {steps}")), "spec.definition: Too many"),
        case("a type past 128 characters", "alice", workflow("h25", &format!("  displayName: d\n  type: {}", long(129))), "spec.type: Too long"),
        case("a workflow name past 253 characters", "alice", workflow(&long(254), "  displayName: d"), "metadata.name"),
        case("a workflow name with capitals", "alice", workflow("Bad_Name", "  displayName: d"), "metadata.name"),
        case("an outsider creating a workflow", "frank", workflow("h28", "  displayName: d"), "forbidden"),
        case("editing someone else's workflow", "bob", workflow("base", "  displayName: taken over"), "only the creator of workflow base"),
        case("forging the creator of an existing workflow", "alice", manifest("Workflow", SALES, "base", "  annotations: {sharing.workflows.dev/created-by: bob}\n", "  displayName: Base"), "cannot be changed"),
        // Organizations.
        case("a coordinator of an unknown kind", "admin", organization("hx-bad-1", "  coordinators: [{kind: Robot, name: r}]"), "spec.coordinators[0].kind: Unsupported value"),
        case("an unknown sharing policy", "admin", organization("hx-bad-2", "  sharingPolicy: Everyone"), "spec.sharingPolicy: Unsupported value"),
        case("an organization name with capitals", "admin", organization("Hx_Bad", "  sharingPolicy: Anyone"), "metadata.name"),
        case("a workspace owner creating an organization", "alice", organization("hx-bad-4", "  sharingPolicy: ManagersOnly"), "forbidden"),
        case("a person with an empty name as auditor", "admin", organization("hx-bad-5", "  auditors: [{kind: User, name: ''}]"), "spec.auditors[0].name"),
        // Triggers.
        case("a cron of the wrong shape", "alice", trigger("h36", "  type: Schedule\n  workflowRef: {kind: Workflow, name: base}\n  schedule: {cron: 'every minute'}"), "spec.schedule.cron"),
        case("a cron with seconds", "alice", trigger("h37", "  type: Schedule\n  workflowRef: {kind: Workflow, name: base}\n  schedule: {cron: '0 0 9 * * *'}"), "spec.schedule.cron"),
        case("an unknown time zone", "alice", trigger("h38", "  type: Schedule\n  workflowRef: {kind: Workflow, name: base}\n  schedule: {cron: '0 9 * * *', timeZone: Mars/Olympus}"), "spec.schedule.timeZone"),
        case("a trigger naming another namespace", "alice", trigger("h39", "  type: Webhook\n  workflowRef: {kind: Workflow, name: base, namespace: hx-support}"), "spec.workflowRef.namespace"),
        case("a schedule trigger without a schedule", "alice", trigger("h40", "  type: Schedule\n  workflowRef: {kind: Workflow, name: base}"), "spec.schedule: Required value"),
        case("an unknown trigger type", "alice", trigger("h41", "  type: Cron\n  workflowRef: {kind: Workflow, name: base}"), "spec.type: Unsupported value"),
        case("a trigger of a Pod", "alice", trigger("h42", "  type: Webhook\n  workflowRef: {kind: Pod, name: base}"), "spec.workflowRef.kind: Unsupported value"),
        case("a negative history limit", "alice", trigger("h43", "  type: Webhook\n  workflowRef: {kind: Workflow, name: base}\n  historyLimit: -1"), "spec.historyLimit"),
        // Runs.
        case("a run of nothing", "alice", run("h44", "  runAs: ''"), "spec.workflowRef: Required value"),
        case("a run posing as a trigger's fire", "alice", run("h45", "  workflowRef: {kind: Workflow, name: base}\n  triggerRef: nightly"), "only workflow-share creates a trigger's runs"),
        case("a run with a forged scheduled time", "alice", run("h46", "  workflowRef: {kind: Workflow, name: base}\n  scheduledTime: '2020-01-01T00:00:00Z'"), "only workflow-share creates a trigger's runs"),
        case("a run of another namespace's workflow", "alice", run("h47", "  workflowRef: {kind: Workflow, name: base, namespace: hx-support}"), "spec.workflowRef.namespace"),
        // Project and trigger shares, projects.
        case("a trigger share naming another namespace", "alice", manifest("TriggerShare", SALES, "h48", "", "  triggerRef: {name: t, namespace: hx-support}\n  workspaces: [hx-support]"), "spec.triggerRef.namespace"),
        case("a project share with its own workspace", "alice", manifest("ProjectShare", SALES, "h49", "", "  projectRef: {name: p}\n  workspaces: [hx-sales]"), "own workspace"),
        case("a project share of nothing", "alice", manifest("ProjectShare", SALES, "h50", "", "  workspaces: [hx-support]"), "spec.projectRef: Required value"),
        case("a trigger share with 1001 workspaces", "alice", manifest("TriggerShare", SALES, "h51", "", &format!("  triggerRef: {{name: t}}\n  workspaces: {many_workspaces}")), "spec.workspaces: Too many"),
        case("a project with 201 documents", "alice", manifest("Project", SALES, "h52", "", &format!("  displayName: p\n  documents: {documents}")), "spec.documents: Too many"),
        // Library entries and the controller's own objects.
        case("a recipient rewriting a library entry's source", "carol", manifest("SharedWorkflow", SUPPORT, "hx-sales.base", "", "  source: {namespace: hx-sales, name: bobs}\n  displayName: Base\n  sharedBy: alice"), "only spec.enabled"),
        case("a recipient changing whether a library entry is suspended", "carol", manifest("SharedWorkflow", SUPPORT, "hx-sales.base", "", "  source: {namespace: hx-sales, name: base}\n  displayName: Base\n  sharedBy: alice\n  suspended: Reinstated"), "only spec.enabled"),
        case("an owner creating a library entry elsewhere", "alice", manifest("SharedWorkflow", SUPPORT, "h54", "", "  source: {namespace: hx-sales, name: base}\n  displayName: Base"), "forbidden"),
        case("a namespace admin forging a grant RoleBinding", "erin", labelled_rbac("RoleBinding", "workflow-share.h55", "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: hx-rbac-admin}\nsubjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: erin}]\n"), "only workflow-share creates objects managed by workflow-share"),
        case("a namespace admin forging a grant Role", "erin", labelled_rbac("Role", "workflow-share.h56", "rules: [{apiGroups: [''], resources: [configmaps], verbs: [get]}]\n"), "only workflow-share creates objects managed by workflow-share"),
        case("a namespace admin marking her RoleBinding as the controller's", "erin", labelled_rbac("RoleBinding", "erins", "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: hx-rbac-admin}\nsubjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: erin}]\n"), "only workflow-share creates objects managed by workflow-share"),
        case("a member binding herself to the owner role", "bob", to_yaml(&member(SALES, "owner", "bob")), "forbidden"),
        // Namespaces.
        case("a member joining a namespace to the organization", "bob", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: hx-wannabe\n  labels: {sharing.workflows.dev/organization: hx-org}\n".to_string(), "forbidden"),
        case("a namespace editor joining without the join right", "dave", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: hx-wannabe\n  labels: {sharing.workflows.dev/organization: hx-org}\n".to_string(), "join"),
        case("a namespace editor moving a workspace to another organization", "dave", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: hx-support\n  labels: {sharing.workflows.dev/organization: hx-other}\n".to_string(), "join"),
        case("a member cloning an entry", "bob", manifest("WorkflowClone", SALES, "h62", "", "  sharedWorkflowRef: {name: hx-support.base}\n  targetName: mine"), "forbidden"),
        // Groups that span the cluster, and the controller's mark on other kinds.
        case("a share to every authenticated identity", "alice", share("h63", "  workflowRef: {name: base}\n  people: {groups: ['system:authenticated']}"), "spec.people.groups"),
        case("a share to the cluster administrators' group", "alice", share("h64", "  workflowRef: {name: base}\n  people: {groups: ['system:masters']}"), "spec.people.groups"),
        case("a project share to every ServiceAccount", "alice", manifest("ProjectShare", SALES, "h65", "", "  projectRef: {name: p}\n  people: {groups: ['system:serviceaccounts']}"), "spec.people.groups"),
        case("an organization audited by every authenticated identity", "admin", organization("hx-bad-6", "  auditors: [{kind: Group, name: 'system:authenticated'}]"), "spec.auditors[0].name"),
        case("an organization coordinated by the nodes", "admin", organization("hx-bad-7", "  coordinators: [{kind: Group, name: 'system:nodes'}]"), "spec.coordinators[0].name"),
        case("a member marking her workflow as the controller's", "bob", manifest("Workflow", SALES, "h68", "  labels: {app.kubernetes.io/managed-by: workflow-share}\n", "  displayName: d"), "only workflow-share creates objects managed by workflow-share"),
        case("a member marking her run as the controller's", "bob", manifest("WorkflowRun", SALES, "h69", "  labels: {app.kubernetes.io/managed-by: workflow-share}\n", "  workflowRef: {kind: Workflow, name: bobs}"), "only workflow-share creates objects managed by workflow-share"),
    ]
}

async fn exists(client: &kube::Client, yaml: &str) -> bool {
    let Ok(obj) = serde_yaml::from_str::<DynamicObject>(yaml.trim_start_matches("\n---\n")) else {
        return false;
    };
    let Ok(api) = object_api(client, &obj).await else {
        return false;
    };
    api.get_opt(obj.metadata.name.as_deref().unwrap_or(""))
        .await
        .ok()
        .flatten()
        .is_some()
}

#[tokio::test]
async fn hostile_manifests_are_refused_naming_the_field_and_nothing_is_applied() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let mut setup = support::organization("hx-org", &[SALES, SUPPORT])
        .and(support::organization("hx-other", &["hx-foreign"]))
        .and(member(SALES, "owner", "alice"))
        .and(member(SALES, "member", "bob"))
        .and(member(SUPPORT, "manager", "carol"));
    // erin administers RBAC in hx-sales, and dave may edit namespaces but holds no
    // right to join an organization.
    let rbac_admin = vec![
        rule(
            &["rbac.authorization.k8s.io"],
            &["roles", "rolebindings"],
            &["*"],
        ),
        rule(&[""], &["configmaps"], &["get"]),
    ];
    setup += role(SALES, "hx-rbac-admin", rbac_admin);
    setup += role_binding(SALES, "erin-admin", role_ref("Role", "hx-rbac-admin")).user("erin");
    let namespace_editor = rule(
        &[""],
        &["namespaces"],
        &["get", "create", "patch", "update"],
    );
    setup += cluster_role("hx-namespace-editor", vec![namespace_editor]);
    setup += cluster_role_binding("hx-namespace-editor", "hx-namespace-editor").user("dave");
    apply(&admin, &setup).await.expect("setup");
    let alice = cp.as_user("alice").await;
    let bob = cp.as_user("bob").await;
    apply(
        &alice,
        &support::workflow(SALES, "base").display_name("Base"),
    )
    .await
    .expect("alice's workflow");
    apply(
        &bob,
        &support::workflow(SALES, "bobs").display_name("Bob's"),
    )
    .await
    .expect("bob's workflow");
    until_known::<workflow_share::resources::Workflow>(&admin, SALES, "base").await;
    eventually("alice may share base", WAIT, || async {
        can_i(&alice, "share", G, "workflows", SALES, Some("base"))
            .await
            .then_some(())
    })
    .await;
    apply(
        &alice,
        &support::share(SALES, "shared")
            .workflow("base")
            .to_workspaces(&[SUPPORT]),
    )
    .await
    .expect("alice shares base");
    eventually("hx-support has base", WAIT, || async {
        entry_exists(&admin, SUPPORT, "hx-sales.base")
            .await
            .then_some(())
    })
    .await;
    let before = Api::<WorkflowShare>::namespaced(admin.clone(), SALES)
        .get("shared")
        .await
        .expect("share");

    let corpus = corpus();
    assert!(corpus.len() >= 60, "{} cases", corpus.len());
    let mut wrong = Vec::new();
    for c in &corpus {
        let client = match c.who {
            "admin" => admin.clone(),
            user => cp.as_user(user).await,
        };
        let existed = exists(&admin, &c.yaml).await;
        match apply_yaml(&client, &c.yaml).await {
            Ok(()) => wrong.push(format!("{} ({}): accepted", c.what, c.who)),
            Err(e) if !e.to_string().contains(c.expect) => wrong.push(format!(
                "{} ({}): expected {:?} in: {e}",
                c.what, c.who, c.expect
            )),
            Err(_) => {}
        }
        if !existed && exists(&admin, &c.yaml).await {
            wrong.push(format!("{}: partially applied", c.what));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases went wrong:\n{}",
        wrong.len(),
        corpus.len(),
        wrong.join("\n")
    );
    println!("{} hostile manifests refused", corpus.len());

    // Refused edits changed nothing.
    let after = Api::<WorkflowShare>::namespaced(admin.clone(), SALES)
        .get("shared")
        .await
        .expect("share");
    assert_eq!(before.spec, after.spec, "the refused edits left the share");
    let base = Api::<Workflow>::namespaced(admin.clone(), SALES)
        .get("base")
        .await
        .expect("base");
    assert_eq!(base.spec.display_name, "Base");
}

#[tokio::test]
async fn accepted_but_hostile_input_is_reported_and_grants_nothing() {
    let cp = control_plane();
    let admin = cp.admin().await;
    let (sales, support) = ("hy-sales", "hy-support");
    let setup = support::organization("hy-org", &[sales, support, "hy-legal"])
        .and(support::organization("hy-other", &["hy-foreign"]))
        .and(namespace("hy-plain"))
        .and(member(sales, "owner", "alice"))
        .and(member(sales, "member", "bob"))
        .and(member(sales, "member", "dave"))
        // People are reached within the organization: frank works in its legal workspace.
        .and(member("hy-legal", "member", "frank"));
    apply(&admin, &setup).await.expect("setup");
    let alice = cp.as_user("alice").await;
    let bob = cp.as_user("bob").await;

    // A creator stamp forged in the manifest is replaced by the real requester.
    apply(
        &bob,
        &support::workflow(sales, "forged")
            .display_name("Forged")
            .annotation("sharing.workflows.dev/created-by", "alice"),
    )
    .await
    .expect("bob's workflow");
    let forged = Api::<Workflow>::namespaced(admin.clone(), sales)
        .get("forged")
        .await
        .expect("forged");
    assert_eq!(
        forged
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("sharing.workflows.dev/created-by"))
            .map(String::as_str),
        Some("bob")
    );
    eventually("bob, not alice, may edit it", WAIT, || async {
        (can_i(&bob, "update", G, "workflows", sales, Some("forged")).await
            && !can_i(&alice, "update", G, "workflows", sales, Some("forged")).await)
            .then_some(())
    })
    .await;

    // A run-as forged in a run is replaced by the requester.
    let dave = cp.as_user("dave").await;
    apply(
        &dave,
        &workflow_run(sales, "as-alice")
            .workflow("forged")
            .run_as("alice"),
    )
    .await
    .expect("dave's run");
    let ran = Api::<WorkflowRun>::namespaced(admin.clone(), sales)
        .get("as-alice")
        .await
        .expect("run");
    assert_eq!(ran.spec.run_as, "dave");

    // Targets outside the organization: reported per target, granted nothing.
    apply(
        &alice,
        &support::workflow(sales, "plan").display_name("Plan"),
    )
    .await
    .expect("alice's workflow");
    eventually("alice may share plan", WAIT, || async {
        can_i(&alice, "share", G, "workflows", sales, Some("plan"))
            .await
            .then_some(())
    })
    .await;
    apply(
        &alice,
        &support::share(sales, "plan")
            .workflow("plan")
            .to_workspaces(&["hy-foreign", "hy-plain", "hy-missing", "hy-support"]),
    )
    .await
    .expect("share");
    let shares: Api<WorkflowShare> = Api::namespaced(admin.clone(), sales);
    // The first status may be written before the controller's caches show the
    // organizations (the owner workspace's, or the foreign workspace's); what is
    // asserted is where the status settles.
    let grants = eventually("the share reports every target", WAIT, || async {
        let status = shares.get("plan").await.ok()?.status?;
        let settled = status.grants.len() == 4
            && status.grants.iter().all(|g| {
                g.reason != "OwnerNotInOrganization" && g.reason != "OrganizationNotFound"
            });
        settled.then_some(status.grants)
    })
    .await;
    let reason = |ws: &str| {
        grants
            .iter()
            .find(|g| g.workspace == ws)
            .map(|g| g.reason.clone())
            .unwrap_or_default()
    };
    assert_eq!(reason("hy-foreign"), "OtherOrganization");
    assert_eq!(reason("hy-plain"), "NotAWorkspace");
    assert_eq!(reason("hy-missing"), "WorkspaceNotFound");
    assert!(entry_exists(&admin, support, "hy-sales.plan").await);
    for ws in ["hy-foreign", "hy-plain"] {
        assert!(!entry_exists(&admin, ws, "hy-sales.plan").await, "{ws}");
    }

    // Confused deputy: a member cannot reach, through a share, what he may not share.
    // bob shares alice's workflow: refused (admission); and his own share of his own
    // workflow grants only that workflow.
    let err = apply(
        &bob,
        &support::share(sales, "steal")
            .workflow("plan")
            .to_users(&["frank"]),
    )
    .await
    .expect_err("bob may not share plan");
    assert!(err.to_string().contains("may not share"), "{err}");
    apply(
        &bob,
        &support::share(sales, "forged")
            .workflow("forged")
            .to_users(&["frank"]),
    )
    .await
    .expect("bob shares his own");
    let frank = cp.as_user("frank").await;
    eventually("frank reads bob's workflow", WAIT, || async {
        can_i(&frank, "get", G, "workflows", sales, Some("forged"))
            .await
            .then_some(())
    })
    .await;
    for (verb, name) in [
        ("get", "plan"),
        ("update", "forged"),
        ("share", "forged"),
        ("delete", "forged"),
    ] {
        assert!(
            !can_i(&frank, verb, G, "workflows", sales, Some(name)).await,
            "frank may not {verb} {name}"
        );
    }
    assert!(
        !can_i(&bob, "get", G, "workflows", sales, Some("plan")).await,
        "bob still cannot read alice's private workflow"
    );
}
