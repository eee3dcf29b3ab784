//! Which workflow syncs a change wakes. The controller's watches call these with
//! what their caches hold once the change is in them; waking too few would leave a
//! grant stale until the periodic resync, waking too many costs a sync that writes
//! nothing.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::WorkflowKey;
use crate::labels;
use crate::resources::{Organization, Workflow, WorkflowShare};

/// Workflows whose grants may change when the labels of `namespace` change (it
/// joined or left an organization): those shared to it explicitly or org-wide, and
/// every workflow owned in it (its organization decides whether creators may share;
/// org-wide shares reach its members).
pub fn touching_namespace(
    shares: &[Arc<WorkflowShare>],
    workflows: &[Arc<Workflow>],
    namespace: &str,
) -> Vec<WorkflowKey> {
    touching(shares, workflows, namespace, |_| true)
}

/// Like `touching_namespace`, for a membership change in `namespace`: org-wide
/// shares reach its members only if it belongs to the share's organization, so a
/// workspace preparing to join (its managers bound first) wakes nobody else.
/// `organization_of` gives a namespace's organization label.
pub fn touching_members(
    shares: &[Arc<WorkflowShare>],
    workflows: &[Arc<Workflow>],
    organization_of: impl Fn(&str) -> Option<String>,
    namespace: &str,
) -> Vec<WorkflowKey> {
    let Some(organization) = organization_of(namespace) else {
        return touching(shares, workflows, namespace, |_| false);
    };
    touching(shares, workflows, namespace, |share_ns| {
        organization_of(share_ns).as_ref() == Some(&organization)
    })
}

/// Shares naming `namespace`, shares owned in it, org-wide shares whose namespace
/// passes `org_wide_reaches`, and the workflows owned in it.
fn touching(
    shares: &[Arc<WorkflowShare>],
    workflows: &[Arc<Workflow>],
    namespace: &str,
    org_wide_reaches: impl Fn(&str) -> bool,
) -> Vec<WorkflowKey> {
    let shared = shares.iter().filter(|s| {
        let share_ns = s.metadata.namespace.as_deref();
        share_ns == Some(namespace)
            || s.spec.workspaces.iter().any(|w| w == namespace)
            || (s.spec.entire_organization && share_ns.is_some_and(&org_wide_reaches))
    });
    let owned = workflows
        .iter()
        .filter(|w| w.metadata.namespace.as_deref() == Some(namespace));
    sorted(
        shared
            .filter_map(|s| WorkflowKey::of_share(s))
            .chain(owned.filter_map(|w| WorkflowKey::of_workflow(w))),
    )
}

/// Every workflow and every shared key: an Organization's settings, say, reach all.
pub fn everything(shares: &[Arc<WorkflowShare>], workflows: &[Arc<Workflow>]) -> Vec<WorkflowKey> {
    sorted(
        shares
            .iter()
            .filter_map(|s| WorkflowKey::of_share(s))
            .chain(workflows.iter().filter_map(|w| WorkflowKey::of_workflow(w))),
    )
}

/// Every shared key: who counts as a member (the workspace roles) reaches every grant.
pub fn every_shared(shares: &[Arc<WorkflowShare>]) -> Vec<WorkflowKey> {
    shares
        .iter()
        .filter_map(|s| WorkflowKey::of_share(s))
        .collect()
}

/// What of an Organization decides grants: its spec and metadata, not its status
/// (which the organization controller rewrites whenever a workspace joins).
pub fn organization_changed(before: &Organization, after: &Organization) -> bool {
    before.spec != after.spec
        || before.metadata.labels != after.metadata.labels
        || before.metadata.annotations != after.metadata.annotations
        || before.metadata.deletion_timestamp != after.metadata.deletion_timestamp
}

/// Workflows to sync when one of our Roles or RoleBindings changes under us: its
/// source workflow, or for a workspace's organization readers grant, one of the
/// workflows shared organization-wide there (any sync of one restores the grant).
/// `exists(namespace, name)` says whether a workflow exists.
pub fn sources_of_grant(
    meta: &ObjectMeta,
    workflows: &[Arc<Workflow>],
    exists: impl Fn(&str, &str) -> bool,
    shares: &[Arc<WorkflowShare>],
) -> Vec<WorkflowKey> {
    if meta.name.as_deref() != Some(crate::naming::organization_readers_name().as_str()) {
        return source_of_grant(meta, workflows, exists)
            .into_iter()
            .collect();
    }
    let Some(namespace) = meta.namespace.as_deref() else {
        return Vec::new();
    };
    shares
        .iter()
        .filter(|s| {
            s.spec.entire_organization && s.metadata.namespace.as_deref() == Some(namespace)
        })
        .filter_map(|s| WorkflowKey::of_share(s))
        .min()
        .into_iter()
        .collect()
}

/// Source workflow of a generated Role or RoleBinding, from its labels.
fn source_of_grant(
    meta: &ObjectMeta,
    workflows: &[Arc<Workflow>],
    exists: impl Fn(&str, &str) -> bool,
) -> Option<WorkflowKey> {
    let labels = meta.labels.as_ref()?;
    if labels.get(labels::MANAGED_BY_KEY).map(String::as_str) != Some(labels::MANAGED_BY_VALUE) {
        return None;
    }
    let ns = labels.get(labels::SOURCE_NAMESPACE)?;
    let wf = labels.get(labels::SOURCE_WORKFLOW)?;
    let key = |name: &str| WorkflowKey {
        namespace: ns.clone(),
        name: name.to_string(),
    };
    // The label holds the name itself unless the name was too long for a label.
    if exists(ns, wf) {
        return Some(key(wf));
    }
    workflows
        .iter()
        .find(|w| {
            w.metadata.namespace.as_deref() == Some(ns.as_str())
                && w.metadata
                    .name
                    .as_deref()
                    .is_some_and(|name| crate::naming::label_value(name) == *wf)
        })
        .and_then(|w| WorkflowKey::of_workflow(w))
        .or_else(|| Some(key(wf)))
}

/// Workflows to sync when a library entry changes: the one it says it comes from,
/// and the one its name is generated from (`<namespace>.<workflow>`), since an
/// object we do not own may hold a generated name and its removal must wake the
/// workflow whose grant it blocked.
pub fn of_entry(source: WorkflowKey, entry_name: &str) -> Vec<WorkflowKey> {
    let by_name = entry_name.split_once('.').map(|(ns, wf)| WorkflowKey {
        namespace: ns.to_string(),
        name: wf.to_string(),
    });
    let mut keys = vec![source];
    keys.extend(by_name.filter(|k| k != &keys[0]));
    keys
}

fn sorted(keys: impl Iterator<Item = WorkflowKey>) -> Vec<WorkflowKey> {
    let mut keys: Vec<WorkflowKey> = keys.collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::resources::{
        OrganizationSpec, OrganizationStatus, WorkflowRef, WorkflowShareSpec, WorkflowSpec,
    };

    fn key(namespace: &str, name: &str) -> WorkflowKey {
        WorkflowKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    fn workflow(namespace: &str, name: &str) -> Arc<Workflow> {
        let mut wf = Workflow::new(name, WorkflowSpec::default());
        wf.metadata.namespace = Some(namespace.into());
        Arc::new(wf)
    }

    /// A share in `namespace` of its workflow `workflow`, to `workspaces` or
    /// (with `["*"]`) the whole organization.
    fn share(namespace: &str, workflow: &str, workspaces: &[&str]) -> Arc<WorkflowShare> {
        let org_wide = workspaces == ["*"];
        let mut share = WorkflowShare::new(
            &format!("{workflow}-share"),
            WorkflowShareSpec {
                workflow_ref: WorkflowRef {
                    name: workflow.into(),
                    ..Default::default()
                },
                workspaces: if org_wide {
                    Vec::new()
                } else {
                    workspaces.iter().map(|w| w.to_string()).collect()
                },
                entire_organization: org_wide,
                ..Default::default()
            },
        );
        share.metadata.namespace = Some(namespace.into());
        Arc::new(share)
    }

    fn organizations(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(ns, org)| (ns.to_string(), org.to_string()))
            .collect();
        move |ns| map.get(ns).cloned()
    }

    #[test]
    fn a_namespace_change_wakes_shares_naming_it_owned_in_it_and_org_wide() {
        let shares = [
            share("sales", "report", &["support"]),
            share("sales", "forecast", &[]),
            share("finance", "budget", &["*"]),
            share("finance", "ledger", &["legal"]),
        ];
        let workflows = [workflow("support", "triage"), workflow("legal", "nda")];
        assert_eq!(
            touching_namespace(&shares, &workflows, "support"),
            vec![
                key("finance", "budget"),
                key("sales", "report"),
                key("support", "triage")
            ]
        );
        assert_eq!(
            touching_namespace(&shares, &workflows, "sales"),
            vec![
                key("finance", "budget"),
                key("sales", "forecast"),
                key("sales", "report")
            ]
        );
    }

    #[test]
    fn a_membership_change_reaches_org_wide_shares_of_its_own_organization_only() {
        let shares = [
            share("sales", "report", &["*"]),
            share("rival", "plan", &["*"]),
            share("finance", "budget", &["support"]),
        ];
        let orgs = organizations(&[("sales", "acme"), ("support", "acme"), ("rival", "globex")]);
        assert_eq!(
            touching_members(&shares, &[], &orgs, "support"),
            vec![key("finance", "budget"), key("sales", "report")]
        );
        // A workspace in no organization: explicit shares only, no org-wide one.
        assert_eq!(
            touching_members(&shares, &[], &orgs, "newcomer"),
            Vec::<WorkflowKey>::new()
        );
    }

    #[test]
    fn everything_and_every_shared_are_deduplicated_keys() {
        let shares = [
            share("sales", "report", &["support"]),
            share("sales", "report", &["*"]),
        ];
        let workflows = [workflow("sales", "report"), workflow("sales", "draft")];
        assert_eq!(
            everything(&shares, &workflows),
            vec![key("sales", "draft"), key("sales", "report")]
        );
        assert_eq!(every_shared(&shares).len(), 2);
    }

    fn organization(display_name: &str, workspaces: i32) -> Organization {
        let mut org = Organization::new(
            "acme",
            OrganizationSpec {
                display_name: display_name.into(),
                ..Default::default()
            },
        );
        org.status = Some(OrganizationStatus {
            workspace_count: workspaces,
            ..Default::default()
        });
        org
    }

    #[test]
    fn an_organization_status_change_wakes_nothing_a_spec_or_label_change_does() {
        let before = organization("Acme", 3);
        assert!(!organization_changed(&before, &organization("Acme", 4)));
        assert!(organization_changed(&before, &organization("Acme Corp", 3)));
        let mut labelled = organization("Acme", 3);
        labelled
            .metadata
            .labels
            .get_or_insert_default()
            .insert("tier".into(), "gold".into());
        assert!(organization_changed(&before, &labelled));
    }

    fn grant_meta(name: &str, namespace: &str, source: Option<(&str, &str)>) -> ObjectMeta {
        let mut labels = BTreeMap::new();
        if let Some((ns, wf)) = source {
            labels.insert(
                labels::MANAGED_BY_KEY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            );
            labels.insert(labels::SOURCE_NAMESPACE.to_string(), ns.to_string());
            labels.insert(labels::SOURCE_WORKFLOW.to_string(), wf.to_string());
        }
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            ..Default::default()
        }
    }

    #[test]
    fn a_grant_wakes_its_source_workflow_and_only_ours_wake_anything() {
        let workflows = [workflow("sales", "report")];
        let exists = |ns: &str, name: &str| ns == "sales" && name == "report";
        let ours = grant_meta("x", "support", Some(("sales", "report")));
        assert_eq!(
            sources_of_grant(&ours, &workflows, exists, &[]),
            vec![key("sales", "report")]
        );
        let foreign = grant_meta("x", "support", None);
        assert!(sources_of_grant(&foreign, &workflows, exists, &[]).is_empty());
    }

    #[test]
    fn a_hashed_source_label_is_matched_against_the_workflows_of_its_namespace() {
        let long = "w".repeat(70);
        let workflows = [workflow("sales", &long)];
        let hashed = crate::naming::label_value(&long);
        assert_ne!(hashed, long, "a name too long for a label is hashed");
        let meta = grant_meta("x", "support", Some(("sales", &hashed)));
        assert_eq!(
            sources_of_grant(&meta, &workflows, |_, _| false, &[]),
            vec![key("sales", &long)]
        );
    }

    #[test]
    fn the_organization_readers_grant_wakes_one_org_wide_workflow_of_its_namespace() {
        let shares = [
            share("sales", "zeta", &["*"]),
            share("sales", "alpha", &["*"]),
            share("sales", "direct", &["support"]),
        ];
        let meta = grant_meta(&crate::naming::organization_readers_name(), "sales", None);
        assert_eq!(
            sources_of_grant(&meta, &[], |_, _| false, &shares),
            vec![key("sales", "alpha")]
        );
    }

    #[test]
    fn an_entry_wakes_its_source_and_the_workflow_its_name_is_generated_from() {
        assert_eq!(
            of_entry(key("sales", "report"), "sales.report"),
            vec![key("sales", "report")]
        );
        assert_eq!(
            of_entry(key("sales", "report"), "finance.budget"),
            vec![key("sales", "report"), key("finance", "budget")]
        );
        assert_eq!(
            of_entry(key("sales", "report"), "plain"),
            vec![key("sales", "report")]
        );
    }
}
