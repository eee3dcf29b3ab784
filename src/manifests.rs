//! Reading manifests from disk for `plan`, and printing plans.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::planner::{DesiredRbac, Snapshot, WorkflowPlan};

fn yaml_files(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading directory {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() {
                yaml_files(&entry, out)?;
            } else if entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(entry);
            }
        }
    } else if path.exists() {
        out.push(path.to_path_buf());
    } else {
        bail!("{}: no such file or directory", path.display());
    }
    Ok(())
}

/// Adds one YAML document to the snapshot by its kind; other kinds are ignored.
fn add_document(snapshot: &mut Snapshot, doc: serde_yaml::Value) -> anyhow::Result<()> {
    let kind = doc
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string();
    match kind.as_str() {
        "Organization" => snapshot.organizations.push(serde_yaml::from_value(doc)?),
        "Namespace" => snapshot.namespaces.push(serde_yaml::from_value(doc)?),
        "ClusterRole" => snapshot.cluster_roles.push(serde_yaml::from_value(doc)?),
        "RoleBinding" => snapshot.role_bindings.push(serde_yaml::from_value(doc)?),
        "Workflow" => snapshot.workflows.push(serde_yaml::from_value(doc)?),
        "WorkflowShare" => snapshot.shares.push(serde_yaml::from_value(doc)?),
        "List" => {
            for item in doc
                .get("items")
                .and_then(|i| i.as_sequence())
                .cloned()
                .unwrap_or_default()
            {
                add_document(snapshot, item)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Loads every Organization, Namespace, ClusterRole, RoleBinding, Workflow and
/// WorkflowShare found in `paths` (files or directories, searched recursively).
pub fn load_snapshot(paths: &[PathBuf]) -> anyhow::Result<Snapshot> {
    let mut files = Vec::new();
    for p in paths {
        yaml_files(p, &mut files)?;
    }
    let mut snapshot = Snapshot::default();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        for (i, de) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let doc = serde_yaml::Value::deserialize(de).with_context(|| {
                format!("{}: document {} is not valid YAML", file.display(), i + 1)
            })?;
            if doc.is_null() {
                continue;
            }
            add_document(&mut snapshot, doc)
                .with_context(|| format!("{}: document {}", file.display(), i + 1))?;
        }
    }
    Ok(snapshot)
}

/// One line per grant: the view `kubectl get workflowshares -o wide` gives, before applying.
pub fn plans_table(plans: &[WorkflowPlan], readers: &[(String, DesiredRbac)]) -> String {
    let mut rows = vec![[
        "WORKFLOW".to_string(),
        "SHARE".into(),
        "WORKSPACE".into(),
        "VIA".into(),
        "STATE".into(),
        "REASON".into(),
    ]];
    for plan in plans {
        for share in &plan.shares {
            for g in &share.status.grants {
                let via: Vec<String> = g.via.iter().map(|v| format!("{v:?}")).collect();
                rows.push([
                    format!("{}/{}", plan.namespace, plan.workflow),
                    share.name.clone(),
                    g.workspace.clone(),
                    via.join("+"),
                    format!("{:?}", g.state),
                    g.reason.clone(),
                ]);
            }
        }
    }
    let mut out = crate::text::columns(&rows);
    let grants = plans
        .iter()
        .flat_map(|p| {
            p.rbac
                .iter()
                .chain(&p.creator_rbac)
                .map(|r| (p.namespace.as_str(), r))
        })
        .chain(readers.iter().map(|(ns, r)| (ns.as_str(), r)));
    for (namespace, rbac) in grants {
        let on = match rbac.objects.as_slice() {
            [one] => format!("workflow {one}"),
            many => format!("{} workflows", many.len()),
        };
        let _ = writeln!(
            out,
            "\nrbac {namespace}/{}: {} on {on} for {} subject(s)",
            rbac.name,
            rbac.verbs.join(","),
            rbac.subjects.len()
        );
    }
    out
}

/// The plans as data: grants per share and generated objects (printed as YAML or JSON).
pub fn plans_value(plans: &[WorkflowPlan]) -> serde_json::Value {
    let value: Vec<serde_json::Value> = plans
        .iter()
        .map(|p| {
            serde_json::json!({
                "workflow": format!("{}/{}", p.namespace, p.workflow),
                "sharedWorkflows": p.shared_workflows.iter().map(|s| format!("{}/{}", s.workspace, s.name)).collect::<Vec<_>>(),
                "tier": p.workflow_status.as_ref().and_then(|s| s.tier),
                "creator": p.workflow_status.as_ref().and_then(|s| s.creator.clone()),
                "organizationReadable": p.organization_readable,
                "rbacSubjects": p.rbac.as_ref().map(|r| r.subjects.iter().map(|m| format!("{}:{}", m.kind, m.name)).collect::<Vec<_>>()).unwrap_or_default(),
                "shares": p.shares.iter().map(|s| serde_json::json!({"name": s.name, "grants": s.status.grants})).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::Value::Array(value)
}
