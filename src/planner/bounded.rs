//! Statuses that stay small whatever the organization's size. The planner keeps
//! every grant of a share; what is written counts them by state and lists them all
//! only while there are few: beyond that, the exceptions (not Active), up to a
//! bound. The per-workspace truth of active grants is on the recipients' side, in
//! their SharedWorkflows and the labels they carry.

use crate::resources::{GrantCounts, GrantState, WorkflowShareStatus};

/// Most workspaces, or people, a status lists (and most names any list in a status
/// the controller writes carries).
pub const LISTED: usize = 50;

/// The status of a share as written: counts, and the grants as `LISTED` allows.
pub fn bounded(mut status: WorkflowShareStatus) -> WorkflowShareStatus {
    let (grants, unlisted, counts) = bound(std::mem::take(&mut status.grants), |g| g.state);
    status.grants = grants;
    status.unlisted_grants = unlisted;
    status.grant_counts = counts;
    let (people, unlisted, counts) = bound(std::mem::take(&mut status.people), |p| p.state);
    status.people = people;
    status.unlisted_people = unlisted;
    status.people_counts = counts;
    status
}

/// Whether a written status lists every workspace grant (a small share's does).
pub fn lists_every_grant(status: &WorkflowShareStatus) -> bool {
    status.unlisted_grants == 0
        && status
            .grant_counts
            .as_ref()
            .is_none_or(|c| usize::try_from(c.total()).is_ok_and(|t| t == status.grants.len()))
}

fn bound<T>(items: Vec<T>, state: impl Fn(&T) -> GrantState) -> (Vec<T>, i32, Option<GrantCounts>) {
    if items.is_empty() {
        return (items, 0, None);
    }
    let counts = GrantCounts::of(items.iter().map(&state));
    let total = items.len();
    let listed: Vec<T> = if total <= LISTED {
        items
    } else {
        items
            .into_iter()
            .filter(|i| state(i) != GrantState::Active)
            .take(LISTED)
            .collect()
    };
    let unlisted = i32::try_from(total - listed.len()).unwrap_or(i32::MAX);
    (listed, unlisted, Some(counts))
}
