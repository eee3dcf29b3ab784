//! What a workflow sync reports besides its plan: the Reconciling status a changed
//! spec shows first, which grant Role/RoleBinding someone else holds, and when to
//! sync again. Pure (the sync gathers what applying found and writes the answer),
//! so each choice is table-tested here rather than only against a control plane.

use std::time::Duration;

use crate::naming;
use crate::resources::condition::ConditionType;
use crate::resources::{Condition, WorkflowShare, WorkflowShareStatus};

/// Periodic safety-net resync; changes arrive through watches within seconds.
pub const RESYNC: Duration = Duration::from_secs(300);
/// Re-check of shares refused because their author may not share.
pub const RECHECK: Duration = Duration::from_secs(10);
/// Re-check after RBAC an author's right depends on changed (see `Outcome::settling`).
pub const SETTLING: Duration = Duration::from_secs(2);

/// kstatus: a changed spec first shows Reconciling with the new generation, so
/// `kubectl wait --for=condition=Ready` cannot pass on the previous answer. `None`
/// when the share has no status yet or its status is of this generation already.
pub fn progressing(share: &WorkflowShare) -> Option<WorkflowShareStatus> {
    let previous = share.status.clone()?;
    if previous.observed_generation == share.metadata.generation {
        return None;
    }
    Some(WorkflowShareStatus {
        observed_generation: share.metadata.generation,
        conditions: vec![
            Condition::unknown(
                ConditionType::Ready,
                "Reconciling",
                "applying the new specification",
            ),
            Condition::new(
                ConditionType::Reconciling,
                true,
                "SpecChanged",
                "applying the new specification",
            ),
            Condition::new(ConditionType::Stalled, false, "Reconciling", ""),
        ],
        ..previous
    })
}

/// Which of a workflow's grant Role/RoleBinding pairs applying found ours (an object
/// of the same name not ours is left alone, and reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RbacOwned {
    /// The workspace's organization readers grant.
    pub organization_readers: bool,
    /// The workflow's readers grant.
    pub readers: bool,
    /// The workflow creator's grant.
    pub creator: bool,
}

/// The grant to report as held by someone else, if any: the first of organization
/// readers, readers, creator (the order they are reported in since they exist).
pub fn blocked_rbac(workflow: &str, owned: RbacOwned) -> Option<String> {
    if !owned.organization_readers {
        Some(naming::organization_readers_name())
    } else if !owned.readers {
        Some(naming::grant_rbac_name(workflow))
    } else if !owned.creator {
        Some(naming::creator_rbac_name(workflow))
    } else {
        None
    }
}

/// What a sync asks of the next one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// A share was refused because its author may not share: RBAC changes are not
    /// all watched (and the API server's authorizer lags a watch event a little), so
    /// ask again soon rather than only at the periodic resync.
    pub recheck_soon: bool,
    /// RBAC the author's right depends on changed a moment ago, possibly by this
    /// sync: the API server's answers may lag it, so ask again within seconds.
    pub settling: bool,
}

impl Outcome {
    /// When to sync again: the soonest wait any of its reasons asks for.
    pub fn requeue_after(self) -> Duration {
        if self.settling {
            SETTLING
        } else if self.recheck_soon {
            RECHECK
        } else {
            RESYNC
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::WorkflowShareSpec;

    fn share(generation: i64, status: Option<(Option<i64>, i32)>) -> WorkflowShare {
        let mut s = WorkflowShare::new("s", WorkflowShareSpec::default());
        s.metadata.generation = Some(generation);
        s.status = status.map(|(observed, active)| WorkflowShareStatus {
            observed_generation: observed,
            active_grants: active,
            shared_by: Some("alice".into()),
            conditions: vec![Condition::new(ConditionType::Ready, true, "Shared", "")],
            ..Default::default()
        });
        s
    }

    #[test]
    fn progressing_table() {
        // (case, share, Reconciling shown)
        let cases = [
            ("no status yet: nothing to supersede", share(2, None), false),
            (
                "status of this generation",
                share(2, Some((Some(2), 1))),
                false,
            ),
            (
                "status of an older generation",
                share(2, Some((Some(1), 1))),
                true,
            ),
            ("status of no generation", share(1, Some((None, 0))), true),
        ];
        for (case, share, shown) in cases {
            let status = progressing(&share);
            assert_eq!(status.is_some(), shown, "{case}");
            let Some(status) = status else { continue };
            assert_eq!(
                status.observed_generation, share.metadata.generation,
                "{case}"
            );
            let previous = share.status.clone().unwrap_or_default();
            // Everything but the generation and conditions is kept as it was.
            assert_eq!(
                (status.active_grants, status.shared_by.clone()),
                (previous.active_grants, previous.shared_by.clone()),
                "{case}"
            );
            let conditions: Vec<(&str, &str, &str)> = status
                .conditions
                .iter()
                .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
                .collect();
            assert_eq!(
                conditions,
                vec![
                    ("Ready", "Unknown", "Reconciling"),
                    ("Reconciling", "True", "SpecChanged"),
                    ("Stalled", "False", "Reconciling"),
                ],
                "{case}"
            );
        }
    }

    #[test]
    fn blocked_rbac_table() {
        let owned = |organization_readers, readers, creator| RbacOwned {
            organization_readers,
            readers,
            creator,
        };
        let cases = [
            ("all ours", owned(true, true, true), None),
            (
                "creator grant held",
                owned(true, true, false),
                Some("workflow-share-creator.wf"),
            ),
            (
                "readers grant held",
                owned(true, false, true),
                Some("workflow-share.wf"),
            ),
            (
                "readers before creator",
                owned(true, false, false),
                Some("workflow-share.wf"),
            ),
            (
                "organization readers first",
                owned(false, false, false),
                Some("workflow-share-organization-readers"),
            ),
            (
                "organization readers alone",
                owned(false, true, true),
                Some("workflow-share-organization-readers"),
            ),
        ];
        for (case, owned, blocked) in cases {
            assert_eq!(blocked_rbac("wf", owned).as_deref(), blocked, "{case}");
        }
    }

    #[test]
    fn requeue_table() {
        let outcome = |recheck_soon, settling| Outcome {
            recheck_soon,
            settling,
        };
        let cases = [
            (
                "nothing pending: periodic resync",
                outcome(false, false),
                RESYNC,
            ),
            ("a share refused: recheck", outcome(true, false), RECHECK),
            ("RBAC settling", outcome(false, true), SETTLING),
            ("settling wins over recheck", outcome(true, true), SETTLING),
        ];
        for (case, outcome, after) in cases {
            assert_eq!(outcome.requeue_after(), after, "{case}");
        }
        assert!(SETTLING < RECHECK && RECHECK < RESYNC);
    }
}
