//! The test builders send exactly the fields a test set, no default a type writes on
//! its own: under server-side apply, a field sent is a field owned. A field added to a
//! resource type without `skip_serializing_if` shows up here first.

mod support;

use serde_json::{Value, json};
use support::*;
use workflow_share::resources::Access;

fn sent(manifest: &impl Manifest) -> Vec<Value> {
    manifest
        .objects()
        .iter()
        .map(|o| o.value().clone())
        .collect()
}

fn one(manifest: &impl Manifest) -> Value {
    let [object] = <[Value; 1]>::try_from(sent(manifest)).expect("one object");
    object
}

const API: &str = "sharing.workflows.dev/v1alpha1";

#[test]
fn a_workflow_sends_its_display_name_and_what_was_set() {
    assert_eq!(
        one(&workflow("sales", "report")),
        json!({"apiVersion": API, "kind": "Workflow",
            "metadata": {"name": "report", "namespace": "sales"},
            "spec": {"displayName": "report"}})
    );
    let full = workflow("sales", "report")
        .display_name("Report")
        .of_type("Reporting")
        .description("weekly")
        .training_data("history")
        .steps(&["collect", "send"])
        .deidentified(false)
        .in_project("roadmap")
        .annotation("a", "b")
        .label("c", "d");
    assert_eq!(
        one(&full),
        json!({"apiVersion": API, "kind": "Workflow",
            "metadata": {"name": "report", "namespace": "sales",
                "annotations": {"a": "b"}, "labels": {"c": "d"}},
            "spec": {"displayName": "Report", "type": "Reporting", "description": "weekly",
                "trainingDataRef": "history",
                "definition": [{"name": "collect"}, {"name": "send"}],
                "deidentification": {"enabled": false}, "projectRef": "roadmap"}})
    );
}

#[test]
fn shares_send_their_recipients_and_defaults_only_when_set() {
    let nobody: [&str; 0] = [];
    let to_people = share("sales", "report")
        .workflow("report")
        .to_workspaces(&["support"])
        .to_users(&["frank"])
        .to_groups(&["team"])
        .to_users(&nobody);
    assert_eq!(
        one(&to_people),
        json!({"apiVersion": API, "kind": "WorkflowShare",
            "metadata": {"name": "report", "namespace": "sales"},
            "spec": {"workflowRef": {"name": "report"}, "workspaces": ["support"],
                "people": {"users": ["frank"], "groups": ["team"]}}})
    );
    let everyone = share("sales", "report")
        .workflow("report")
        .ref_namespace("other")
        .entire_organization()
        .access(Access::View);
    assert_eq!(
        one(&everyone)["spec"],
        json!({"workflowRef": {"name": "report", "namespace": "other"},
            "entireOrganization": true, "access": "View"})
    );
    assert_eq!(
        one(&share("sales", "p")
            .project("roadmap")
            .to_workspaces(&["support"])),
        json!({"apiVersion": API, "kind": "ProjectShare",
            "metadata": {"name": "p", "namespace": "sales"},
            "spec": {"projectRef": {"name": "roadmap"}, "workspaces": ["support"]}})
    );
    assert_eq!(
        one(&share("sales", "t").trigger("nightly").entire_organization())["spec"],
        json!({"triggerRef": {"name": "nightly"}, "entireOrganization": true})
    );
    // `create` sends the typed object whole, as it always did.
    let built = serde_json::to_value(share("sales", "r").workflow("r").build()).expect("json");
    assert_eq!(built["spec"]["access"], "View");
}

#[test]
fn an_organization_sends_itself_then_its_workspaces() {
    let org = organization("acme", &["sales", "support"])
        .auditor("audrey")
        .coordinator("cora");
    let workspace = |name: &str| {
        json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name,
                "labels": {"sharing.workflows.dev/organization": "acme"}}})
    };
    assert_eq!(
        sent(&org),
        [
            json!({"apiVersion": API, "kind": "Organization", "metadata": {"name": "acme"},
                "spec": {"deidentificationDefault": true,
                    "auditors": [{"kind": "User", "name": "audrey"}],
                    "coordinators": [{"kind": "User", "name": "cora"}]}}),
            workspace("sales"),
            workspace("support"),
        ]
    );
}

#[test]
fn triggers_runs_clones_projects_and_entries_send_what_was_set() {
    assert_eq!(
        one(&trigger("sales", "nightly")
            .workflow("report")
            .schedule("0 3 * * *")),
        json!({"apiVersion": API, "kind": "Trigger",
            "metadata": {"name": "nightly", "namespace": "sales"},
            "spec": {"type": "Schedule", "workflowRef": {"kind": "Workflow", "name": "report"},
                "schedule": {"cron": "0 3 * * *"}}})
    );
    let limited = trigger("sales", "hook")
        .webhook()
        .workflow("report")
        .ref_namespace("other")
        .history_limit(3);
    assert_eq!(
        one(&limited)["spec"],
        json!({"type": "Webhook",
            "workflowRef": {"kind": "Workflow", "name": "report", "namespace": "other"},
            "webhook": {"secretRef": {"name": "hook-token"}},
            "historyLimit": 3})
    );
    let run = workflow_run("support", "r1")
        .shared_workflow("sales.report")
        .run_as("alice")
        .trigger_ref("nightly")
        .scheduled_time("2020-01-01T00:00:00Z");
    assert_eq!(
        one(&run),
        json!({"apiVersion": API, "kind": "WorkflowRun",
            "metadata": {"name": "r1", "namespace": "support"},
            "spec": {"workflowRef": {"kind": "SharedWorkflow", "name": "sales.report"},
                "runAs": "alice", "triggerRef": "nightly",
                "scheduledTime": "2020-01-01T00:00:00Z"}})
    );
    assert_eq!(
        one(&workflow_clone("support", "c", "sales.report", "mine"))["spec"],
        json!({"sharedWorkflowRef": {"name": "sales.report"}, "targetName": "mine"})
    );
    let roadmap = project("sales", "roadmap")
        .display_name("Roadmap")
        .document("Plan", "doc-1")
        .agent("helper");
    assert_eq!(
        one(&roadmap)["spec"],
        json!({"displayName": "Roadmap", "documents": [{"title": "Plan", "reference": "doc-1"}],
            "team": [{"kind": "Agent", "name": "helper"}]})
    );
    let entry = shared_workflow("support", "sales.report", "sales", "report")
        .display_name("Report")
        .shared_by("bob");
    assert_eq!(
        one(&entry),
        json!({"apiVersion": API, "kind": "SharedWorkflow",
            "metadata": {"name": "sales.report", "namespace": "support"},
            "spec": {"source": {"namespace": "sales", "name": "report"},
                "displayName": "Report", "sharedBy": "bob", "access": "View"}})
    );
}

#[test]
fn rbac_objects_are_the_typed_ones() {
    let rbac = "rbac.authorization.k8s.io";
    assert_eq!(
        one(&member("sales", "owner", "alice")),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "owner-alice", "namespace": "sales"},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "workflow-share-owner"},
            "subjects": [{"apiGroup": rbac, "kind": "User", "name": "alice"}]})
    );
    assert_eq!(
        one(&group_member("sales", "member", "team"))["subjects"],
        json!([{"apiGroup": rbac, "kind": "Group", "name": "team"}])
    );
    assert_eq!(
        one(&cluster_role(
            "editor",
            vec![rule(&[""], &["namespaces"], &["get"])]
        )),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "editor"},
            "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]})
    );
}

#[test]
fn yaml_for_commands_is_the_same_objects() {
    let objects = workflow("sales", "report").and(share("sales", "report").workflow("report"));
    let yaml = to_yaml(&objects);
    let docs: Vec<Value> = yaml
        .split("---\n")
        .map(|doc| serde_yaml::from_str(doc).expect("YAML"))
        .collect();
    assert_eq!(docs, sent(&objects));
}
