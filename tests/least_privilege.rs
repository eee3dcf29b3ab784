//! The chart grants the controller exactly what it uses.
//!
//! During a full test run (`hack/test.sh` with no arguments) every control plane
//! records the controller ServiceAccount's requests in an audit log. This test then
//! reads those logs and the chart's rendered RBAC and fails
//! - when the API server refused the controller anything (the chart lacks it), and
//! - when the chart grants a verb on a resource the controller never used, unless it
//!   is held only to be delegated (listed below with the reason).
//!
//! It is ignored in a plain `cargo test`: alone it would see no requests.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde::Deserialize;
use support::built_tool;

const CONTROLLER: &str = "system:serviceaccount:workflow-share-system:workflow-share";

/// Held so the controller may grant them, never used by it: Kubernetes lets a
/// subject create a Role only with verbs it holds itself, and bind a ClusterRole
/// only with `bind` on it.
const DELEGATED: &[(&str, &str, &str, &str)] = &[
    // (resource, verb, resource name or "", why)
    (
        "workflows",
        "update",
        "",
        "granted to each workflow's creator",
    ),
    (
        "workflows",
        "patch",
        "",
        "granted to each workflow's creator",
    ),
    (
        "workflows",
        "delete",
        "",
        "granted to each workflow's creator",
    ),
    (
        "workflows",
        "share",
        "",
        "granted to each workflow's creator",
    ),
    ("workflows", "get", "", "granted to readers and the creator"),
    (
        "workflows",
        "exists",
        "",
        "granted per name to the identity the who-may-share check asks",
    ),
    (
        "projects",
        "update",
        "",
        "granted to each project's creator",
    ),
    ("projects", "patch", "", "granted to each project's creator"),
    (
        "projects",
        "delete",
        "",
        "granted to each project's creator",
    ),
    ("projects", "share", "", "granted to each project's creator"),
    ("projects", "get", "", "granted to readers and the creator"),
    (
        "projects",
        "exists",
        "",
        "granted per name to the identity the who-may-share check asks",
    ),
    (
        "triggers",
        "update",
        "",
        "granted to each trigger's creator",
    ),
    ("triggers", "patch", "", "granted to each trigger's creator"),
    (
        "triggers",
        "delete",
        "",
        "granted to each trigger's creator",
    ),
    ("triggers", "share", "", "granted to each trigger's creator"),
    ("triggers", "get", "", "granted to readers and the creator"),
    (
        "triggers",
        "exists",
        "",
        "granted per name to the identity the who-may-share check asks",
    ),
    (
        "clusterroles",
        "bind",
        "workflow-share-auditor",
        "binds organization auditors",
    ),
    (
        "clusterroles",
        "bind",
        "workflow-share-coordinator",
        "binds organization coordinators",
    ),
];

/// One permission: group, resource (with `/subresource`), verb, resource name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Permission {
    group: String,
    resource: String,
    verb: String,
    name: String,
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(f, "{} {}.{}", self.verb, self.resource, group)?;
        if !self.name.is_empty() {
            write!(f, " named {}", self.name)?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditEvent {
    verb: String,
    #[serde(rename = "requestURI", default)]
    request_uri: String,
    user: AuditUser,
    object_ref: Option<ObjectRef>,
    response_status: Option<ResponseStatus>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct AuditUser {
    username: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectRef {
    resource: Option<String>,
    subresource: Option<String>,
    api_group: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
}

#[derive(Deserialize)]
struct ResponseStatus {
    code: Option<u16>,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The rules the chart binds to the controller's ServiceAccount.
fn chart_rules() -> Vec<PolicyRule> {
    let out = Command::new(built_tool("helm"))
        .args(["template", "workflow-share"])
        .arg(repo().join("charts/workflow-share"))
        .args(["--namespace", "workflow-share-system"])
        .output()
        .expect("helm template");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8_lossy(&out.stdout);
    let mut rules = Vec::new();
    for doc in rendered.split("\n---") {
        let Ok(value) = serde_yaml::from_str::<serde_json::Value>(doc) else {
            continue;
        };
        let kind = value["kind"].as_str().unwrap_or_default();
        let name = value["metadata"]["name"].as_str().unwrap_or_default();
        let controllers = matches!(
            (kind, name),
            ("ClusterRole", "workflow-share-controller")
                | ("Role", "workflow-share-leader-election")
        );
        if controllers {
            let found: Vec<PolicyRule> =
                serde_json::from_value(value["rules"].clone()).expect("rules");
            rules.extend(found);
        }
    }
    assert!(rules.len() > 5, "found the controller's roles in the chart");
    rules
}

/// Every (group, resource, verb, name) a rule grants, one by one.
fn granted(rules: &[PolicyRule]) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for rule in rules {
        let names = rule
            .resource_names
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| vec![String::new()]);
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    for name in &names {
                        out.insert(Permission {
                            group: group.clone(),
                            resource: resource.clone(),
                            verb: verb.clone(),
                            name: name.clone(),
                        });
                    }
                }
            }
        }
    }
    out
}

/// Whether a request used the grant `p` (a grant without a name covers every name).
/// A server-side apply is audited as `patch`; when it creates the object the API
/// server also authorizes `create`, so an apply uses both.
fn covers(p: &Permission, used: &Permission) -> bool {
    p.group == used.group
        && p.resource == used.resource
        && (p.verb == used.verb || (p.verb == "create" && used.verb == "patch"))
        && (p.name.is_empty() || p.name == used.name)
}

/// RBAC cannot narrow a grant on Secrets by their type; the controller narrows what
/// it asks for: every request for Secrets lists or watches with the field selector
/// of the webhook-token type, none reads a Secret by name, and there were some.
fn only_webhook_token_secrets_were_requested(requests: &[String]) {
    const SELECTOR: &str = "fieldSelector=type%3Dsharing.workflows.dev%2Fwebhook-token";
    assert!(
        !requests.is_empty(),
        "the controller never asked for a token Secret: were no webhooks served?"
    );
    let other: Vec<_> = requests
        .iter()
        .filter(|r| !(r.starts_with("list ") || r.starts_with("watch ")) || !r.contains(SELECTOR))
        .collect();
    assert!(
        other.is_empty(),
        "{} of {} requests for Secrets were not for the webhook-token type only:\n  {}",
        other.len(),
        requests.len(),
        other
            .iter()
            .take(20)
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    println!(
        "{} requests for Secrets, all of the webhook-token type",
        requests.len()
    );
}

#[test]
#[ignore = "reads the audit logs of a full test run; hack/test.sh runs it last"]
fn the_chart_grants_the_controller_exactly_what_it_uses() {
    let dir = std::env::var("WORKFLOW_SHARE_AUDIT_DIR")
        .expect("WORKFLOW_SHARE_AUDIT_DIR: run through hack/test.sh with no arguments");
    let mut used = BTreeSet::new();
    let mut refused = std::collections::BTreeMap::new();
    let mut requests = 0usize;
    let mut secret_requests = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("audit dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("audit log");
        for line in text.lines() {
            let event: AuditEvent = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: bad audit line {e}", path.display()));
            if event.user.username != CONTROLLER {
                continue;
            }
            let Some(object) = event.object_ref else {
                continue; // discovery and other non-resource URLs
            };
            requests += 1;
            if object.resource.as_deref() == Some("secrets")
                && object.api_group.as_deref().is_none_or(str::is_empty)
            {
                secret_requests.push(format!("{} {}", event.verb, event.request_uri));
            }
            let resource = object.resource.unwrap_or_default();
            let resource = match object.subresource {
                Some(sub) => format!("{resource}/{sub}"),
                None => resource,
            };
            let permission = Permission {
                group: object.api_group.unwrap_or_default(),
                resource,
                verb: event.verb,
                name: object.name.unwrap_or_default(),
            };
            let forbidden = event
                .annotations
                .get("authorization.k8s.io/decision")
                .is_some_and(|d| d == "forbid");
            if forbidden {
                let code = event.response_status.and_then(|s| s.code).unwrap_or(0);
                refused.insert(
                    permission,
                    format!(
                        "in {:?} (HTTP {code})",
                        object.namespace.unwrap_or_default()
                    ),
                );
            } else {
                used.insert(permission);
            }
        }
    }
    // A just-restarted API server refuses everything until its authorizer has read
    // RBAC (tests/faults.rs restarts it); a permission allowed elsewhere in the log
    // is granted, so only never-allowed refusals mean the chart lacks something.
    // RBAC cannot limit `create` by name, so an allowed create of any name counts.
    refused.retain(|p, _| {
        let created_elsewhere = p.verb == "create"
            && used
                .iter()
                .any(|u| u.verb == "create" && u.group == p.group && u.resource == p.resource);
        !used.contains(p) && !created_elsewhere
    });
    assert!(
        requests > 1000,
        "the audit logs in {dir} hold only {requests} controller requests: not a full run"
    );
    only_webhook_token_secrets_were_requested(&secret_requests);

    let granted = granted(&chart_rules());
    let mut unused = Vec::new();
    let mut delegated_only = Vec::new();
    for p in &granted {
        if used.iter().any(|u| covers(p, u)) {
            continue;
        }
        match DELEGATED
            .iter()
            .find(|(r, v, n, _)| *r == p.resource && *v == p.verb && *n == p.name)
        {
            Some((.., why)) => delegated_only.push(format!("{p}: {why}")),
            None => unused.push(p.to_string()),
        }
    }
    let stale: Vec<_> = DELEGATED
        .iter()
        .filter(|(r, v, n, _)| {
            !granted
                .iter()
                .any(|p| p.resource == *r && p.verb == *v && p.name == *n)
        })
        .collect();

    println!("{requests} controller requests; used:");
    let kinds: BTreeSet<String> = used
        .iter()
        .map(|p| {
            Permission {
                name: String::new(),
                ..p.clone()
            }
            .to_string()
        })
        .collect();
    for p in &kinds {
        println!("  {p}");
    }
    println!("held only to delegate:");
    for d in &delegated_only {
        println!("  {d}");
    }
    assert!(
        refused.is_empty(),
        "the chart lacks permissions the controller needed:\n  {}",
        refused
            .iter()
            .map(|(p, at)| format!("{p} {at}"))
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    assert!(
        unused.is_empty(),
        "the chart grants the controller permissions it never used:\n  {}",
        unused.join("\n  ")
    );
    assert!(
        stale.is_empty(),
        "listed as delegated but not granted: {stale:?}"
    );
}
