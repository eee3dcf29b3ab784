//! What changed for the recipients of one share between its recorded status and the
//! planned one: what the share's own Events report.

use crate::resources::{GrantState, WorkflowShareStatus};

/// What changed for the recipients of one share in one sync.
pub fn share_changes(
    before: Option<&WorkflowShareStatus>,
    after: &WorkflowShareStatus,
) -> [(&'static str, &'static str, Vec<String>); 3] {
    let state_before = |ws: &str| {
        before.and_then(|b| b.grants.iter().find(|g| g.workspace == ws).map(|g| g.state))
    };
    let granted = after
        .grants
        .iter()
        .filter(|g| {
            g.state == GrantState::Active && state_before(&g.workspace) != Some(GrantState::Active)
        })
        .map(|g| g.workspace.clone())
        .collect();
    let rejected = after
        .grants
        .iter()
        .filter(|g| {
            g.state == GrantState::Rejected
                && state_before(&g.workspace) != Some(GrantState::Rejected)
        })
        .map(|g| format!("{} ({})", g.workspace, g.reason))
        .collect();
    let revoked = before
        .map(|b| {
            b.grants
                .iter()
                .filter(|g| g.state == GrantState::Active)
                .filter(|g| {
                    !after
                        .grants
                        .iter()
                        .any(|a| a.workspace == g.workspace && a.state == GrantState::Active)
                })
                .map(|g| g.workspace.clone())
                .collect()
        })
        .unwrap_or_default();
    [
        ("Normal", "Granted", granted),
        ("Normal", "Revoked", revoked),
        ("Warning", "Rejected", rejected),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::WorkspaceGrant;

    fn status(grants: &[(&str, GrantState)]) -> WorkflowShareStatus {
        WorkflowShareStatus {
            grants: grants
                .iter()
                .map(|(ws, state)| WorkspaceGrant {
                    workspace: ws.to_string(),
                    state: *state,
                    reason: "Why".into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn each_change_is_reported_once_by_kind_never_what_stayed_the_same() {
        use GrantState::{Active, Pending, Rejected, Suspended};
        // (before, after, granted, revoked, rejected)
        type Case<'a> = (
            &'a str,
            Option<Vec<(&'a str, GrantState)>>,
            Vec<(&'a str, GrantState)>,
            Vec<&'a str>,
            Vec<&'a str>,
            Vec<&'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                "first sync grants",
                None,
                vec![("a", Active), ("b", Active)],
                vec!["a", "b"],
                vec![],
                vec![],
            ),
            (
                "nothing changed",
                Some(vec![("a", Active)]),
                vec![("a", Active)],
                vec![],
                vec![],
                vec![],
            ),
            (
                "a target removed",
                Some(vec![("a", Active), ("b", Active)]),
                vec![("a", Active)],
                vec![],
                vec!["b"],
                vec![],
            ),
            (
                "archived: suspended is revoked",
                Some(vec![("a", Active)]),
                vec![("a", Suspended)],
                vec![],
                vec!["a"],
                vec![],
            ),
            (
                "restored",
                Some(vec![("a", Suspended)]),
                vec![("a", Active)],
                vec!["a"],
                vec![],
                vec![],
            ),
            (
                "rejected once",
                None,
                vec![("x", Rejected)],
                vec![],
                vec![],
                vec!["x (Why)"],
            ),
            (
                "still rejected",
                Some(vec![("x", Rejected)]),
                vec![("x", Rejected)],
                vec![],
                vec![],
                vec![],
            ),
            (
                "pending is no change",
                None,
                vec![("p", Pending)],
                vec![],
                vec![],
                vec![],
            ),
        ];
        for (what, before, after, granted, revoked, rejected) in cases {
            let before = before.map(|b| status(&b));
            let [g, v, r] = share_changes(before.as_ref(), &status(&after));
            assert_eq!((g.0, g.1), ("Normal", "Granted"));
            assert_eq!((v.0, v.1), ("Normal", "Revoked"));
            assert_eq!((r.0, r.1), ("Warning", "Rejected"));
            assert_eq!(g.2, granted, "{what}: granted");
            assert_eq!(v.2, revoked, "{what}: revoked");
            assert_eq!(r.2, rejected, "{what}: rejected");
        }
    }
}
