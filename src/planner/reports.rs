//! What changed for the recipients of one share between its recorded status and the
//! planned one: what the share's own Events report. A small share's status lists
//! every grant, so the comparison is exact; a large one's lists only the exceptions,
//! and then what held access before is read from the workflow's library entries.

use std::collections::BTreeSet;

use crate::resources::{GrantState, WorkflowShareStatus};

use super::bounded::lists_every_grant;

/// What changed for the recipients of one share in one sync. `active_before`: the
/// workspaces whose entry of the workflow was active before the sync;
/// `active_now`: whether a workspace holds access through any share after it.
pub fn share_changes(
    before: Option<&WorkflowShareStatus>,
    after: &WorkflowShareStatus,
    active_before: &BTreeSet<String>,
    active_now: &dyn Fn(&str) -> bool,
) -> [(&'static str, &'static str, Vec<String>); 3] {
    let complete = before.is_none_or(lists_every_grant);
    let listed = |ws: &str| before.and_then(|b| b.grants.iter().find(|g| g.workspace == ws));
    let state_before = |ws: &str| match listed(ws) {
        Some(g) => Some(g.state),
        None if complete => None,
        None => active_before.contains(ws).then_some(GrantState::Active),
    };
    let active_after = |ws: &str| {
        after
            .grants
            .iter()
            .any(|a| a.workspace == ws && a.state == GrantState::Active)
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
            let was = state_before(&g.workspace);
            // Unlisted before, in a large share: not known to be new.
            g.state == GrantState::Rejected
                && was != Some(GrantState::Rejected)
                && (complete || was.is_some())
        })
        .map(|g| format!("{} ({})", g.workspace, g.reason))
        .collect();
    let mut revoked: BTreeSet<String> = before
        .map(|b| {
            b.grants
                .iter()
                .filter(|g| g.state == GrantState::Active && !active_after(&g.workspace))
                .map(|g| g.workspace.clone())
                .collect()
        })
        .unwrap_or_default();
    if !complete {
        revoked.extend(
            active_before
                .iter()
                .filter(|ws| listed(ws).is_none() && !active_after(ws) && !active_now(ws))
                .cloned(),
        );
    }
    [
        ("Normal", "Granted", granted),
        ("Normal", "Revoked", revoked.into_iter().collect()),
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
            let nobody = BTreeSet::new();
            let [g, v, r] = share_changes(before.as_ref(), &status(&after), &nobody, &|_| false);
            assert_eq!((g.0, g.1), ("Normal", "Granted"));
            assert_eq!((v.0, v.1), ("Normal", "Revoked"));
            assert_eq!((r.0, r.1), ("Warning", "Rejected"));
            assert_eq!(g.2, granted, "{what}: granted");
            assert_eq!(v.2, revoked, "{what}: revoked");
            assert_eq!(r.2, rejected, "{what}: rejected");
        }
    }

    #[test]
    fn a_large_share_compares_with_what_the_entries_held() {
        use GrantState::{Active, Rejected};
        // Written with only its exceptions listed: 60 targets, one rejected.
        let mut before = status(&[("x", Rejected)]);
        before.grant_counts = Some(crate::resources::GrantCounts {
            active: 59,
            rejected: 1,
            ..Default::default()
        });
        before.unlisted_grants = 59;
        let active_before: BTreeSet<String> = ["a", "b", "gone", "elsewhere"]
            .into_iter()
            .map(String::from)
            .collect();
        let after = status(&[
            ("a", Active),
            ("b", Rejected),
            ("new", Active),
            ("x", Rejected),
            ("other", Rejected),
        ]);
        // "elsewhere" left this share but another share still grants it.
        let still = |ws: &str| ws == "elsewhere";
        let [g, v, r] = share_changes(Some(&before), &after, &active_before, &still);
        assert_eq!(g.2, ["new"], "granted: what held no active entry");
        assert_eq!(
            v.2,
            ["b", "gone"],
            "revoked: entries active before, no access now"
        );
        assert_eq!(r.2, ["b (Why)"], "rejected: only what is known to be new");
    }
}
