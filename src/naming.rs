//! Deterministic names for generated objects, so every reconcile (and every
//! replica) computes the same name for the same grant.

use sha2::{Digest, Sha256};

const MAX_NAME: usize = 253;
const MAX_LABEL_VALUE: usize = 63;

fn short_hash(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    digest[..5].iter().map(|b| format!("{b:02x}")).collect()
}

/// Keeps `name` when it fits in `max`, else truncates it and appends a hash of the
/// full name, so distinct long inputs stay distinct.
fn fit(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = short_hash(name);
    let keep = max.saturating_sub(hash.len() + 1);
    let head = crate::text::prefix_within(name, keep).trim_end_matches(['-', '.']);
    format!("{head}-{hash}")
}

/// `name` itself when it is a valid object name length, else shortened with a hash.
pub fn fit_name(name: &str) -> String {
    fit(name, MAX_NAME)
}

/// Name of the SharedWorkflow in a recipient workspace: `<owner-namespace>.<workflow>`.
pub fn shared_workflow_name(owner_namespace: &str, workflow: &str) -> String {
    fit(&format!("{owner_namespace}.{workflow}"), MAX_NAME)
}

/// Name of the Role and RoleBinding in the owner workspace that grant access to one workflow.
pub fn grant_rbac_name(workflow: &str) -> String {
    fit(&format!("workflow-share.{workflow}"), MAX_NAME)
}

/// Name of the Role and RoleBinding in the owner workspace that let the creator of
/// one workflow read, edit, delete and share it. Its own prefix, so it never
/// collides with the reader grant of another workflow.
pub fn creator_rbac_name(workflow: &str) -> String {
    fit(&format!("workflow-share-creator.{workflow}"), MAX_NAME)
}

/// Whether `name` is that of a creator's grant (of a workflow, project or trigger).
pub fn is_creator_rbac_name(name: &str) -> bool {
    [
        "workflow-share-creator.",
        "workflow-share-project-creator.",
        "workflow-share-trigger-creator.",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

/// Name of the Role and RoleBinding in an owner workspace that let every member of
/// its organization read its organization-wide workflows. Never a workflow's grant
/// name (those have a `.` after the prefix).
pub fn organization_readers_name() -> String {
    "workflow-share-organization-readers".to_string()
}

/// Name of the RoleBinding that gives one organization role (auditor, coordinator)
/// in a workspace of `organization`.
pub fn organization_binding_name(cluster_role: &str, organization: &str) -> String {
    fit(&format!("{cluster_role}.{organization}"), MAX_NAME)
}

/// Name of the notification Event for one grant: stable for the grant's lifetime
/// (the SharedWorkflow's UID), so a retried notification is refused as a duplicate.
pub fn notification_event_name(shared_workflow: &str, shared_workflow_uid: &str) -> String {
    let suffix = short_hash(shared_workflow_uid);
    fit(&format!("{shared_workflow}.granted-{suffix}"), MAX_NAME)
}

/// Name of the Warning Event that reports failing reconciles of one object: one per
/// object (its UID), whose count grows while the failure repeats.
pub fn failure_event_name(object: &str, uid: &str) -> String {
    let suffix = short_hash(uid);
    fit(&format!("{object}.reconcile-failed-{suffix}"), MAX_NAME)
}

/// Name of the Event that reports one kind of change (`reason`) on an object seen at
/// `resource_version`: a sync that runs again on the same (not yet updated) view
/// computes the same name, so the change is reported once.
pub fn change_event_name(object: &str, reason: &str, resource_version: &str) -> String {
    let suffix = short_hash(resource_version);
    fit(
        &format!("{object}.{}-{suffix}", reason.to_lowercase()),
        MAX_NAME,
    )
}

/// A label value for an object name: the name itself when valid, else a hash.
pub fn label_value(name: &str) -> String {
    let valid = name.len() <= MAX_LABEL_VALUE
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        name.to_string()
    } else {
        format!("h-{}", short_hash(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_readable() {
        assert_eq!(
            shared_workflow_name("sales", "lead-scoring"),
            "sales.lead-scoring"
        );
        assert_eq!(
            grant_rbac_name("lead-scoring"),
            "workflow-share.lead-scoring"
        );
        assert_eq!(label_value("lead-scoring"), "lead-scoring");
    }

    #[test]
    fn long_names_are_hashed_within_limits_and_stay_distinct() {
        let a = "a".repeat(250);
        let b = format!("{}b", "a".repeat(249));
        let na = shared_workflow_name("sales", &a);
        let nb = shared_workflow_name("sales", &b);
        assert!(na.len() <= 253 && nb.len() <= 253);
        assert_ne!(na, nb);
        assert_eq!(na, shared_workflow_name("sales", &a), "deterministic");
        let lv = label_value(&a);
        assert!(lv.len() <= 63 && lv.starts_with("h-"));
    }

    #[test]
    fn long_non_ascii_input_is_cut_at_a_character_boundary() {
        // Object names are ASCII today, but the helper must not depend on it.
        let name = "山田太郎".repeat(40);
        let fitted = fit(&name, 63);
        assert!(fitted.len() <= 63);
        assert!(fitted.starts_with("山田太郎"));
    }

    #[test]
    fn event_names_differ_per_grant_epoch() {
        assert_ne!(
            notification_event_name("sales.x", "uid-1"),
            notification_event_name("sales.x", "uid-2")
        );
    }
}
