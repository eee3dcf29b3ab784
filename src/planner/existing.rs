//! Which objects exist, as the API server's who-may-share check learns it.
//!
//! The check admits a share when its author holds the custom verb `share` on the
//! object, or when the object does not exist yet: a creator applying an object and
//! its share together has no grant before the object exists, so order must not
//! decide, and the controller decides those shares instead (`SharerNotAllowed`).
//! An admission policy cannot read objects, so it asks whether one identity, which
//! holds nothing else, may `exists` the object; these grants list the names of the
//! objects that exist, added only after the creator's own grant has been written.

use std::collections::BTreeSet;

use super::directory::Member;
use super::rules::DesiredRbac;

/// The custom verb the who-may-share check asks about.
pub const EXISTS_VERB: &str = "exists";

/// The ServiceAccount (in the controller's namespace) the check asks as. No Pod runs
/// as it and nothing else is granted to it; it need not even exist.
pub const EXISTENCE_IDENTITY: &str = "workflow-share-existence";

/// Name of the Role and RoleBinding in a workspace that list its objects of
/// `resource` (workflows, projects or triggers) that exist.
pub fn existing_names_grant(resource: &str) -> String {
    format!("workflow-share-existing-{resource}")
}

/// The grant listing `names` of `resource` as existing; None when there are none (a
/// rule without names would mean every name).
pub fn plan_existing<'a>(
    resource: &'static str,
    names: impl IntoIterator<Item = &'a str>,
    controller_namespace: &str,
) -> Option<DesiredRbac> {
    let objects: BTreeSet<&str> = names.into_iter().collect();
    if objects.is_empty() {
        return None;
    }
    Some(DesiredRbac {
        name: existing_names_grant(resource),
        resource,
        objects: objects.into_iter().map(String::from).collect(),
        verbs: vec![EXISTS_VERB.to_string()],
        subjects: vec![Member {
            kind: "ServiceAccount".into(),
            name: EXISTENCE_IDENTITY.into(),
            namespace: Some(controller_namespace.to_string()),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_names_is_no_grant_never_a_rule_for_every_name() {
        assert_eq!(
            plan_existing("workflows", [], "workflow-share-system"),
            None
        );
    }

    #[test]
    fn the_grant_lists_each_name_once_for_the_existence_identity_alone() {
        let plan = plan_existing(
            "projects",
            ["tableau-de-bord", "análise", "tableau-de-bord"],
            "ws-system",
        )
        .expect("a grant");
        assert_eq!(plan.name, "workflow-share-existing-projects");
        assert_eq!(plan.resource, "projects");
        assert_eq!(plan.objects, ["análise", "tableau-de-bord"]);
        assert_eq!(plan.verbs, ["exists"]);
        assert_eq!(
            plan.subjects,
            [Member {
                kind: "ServiceAccount".into(),
                name: "workflow-share-existence".into(),
                namespace: Some("ws-system".into()),
            }]
        );
    }
}
