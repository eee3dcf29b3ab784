//! Whether a WorkflowRun may start, and the status that says so. The controller
//! gathers what the caches show of the workflow a run names, asks the API server the
//! one access question this leaves open, and writes the status; the judgement of
//! those facts is here, pure, so every refusal is table-tested without a cluster.

use std::time::Duration;

use jiff::Timestamp;

use crate::resources::condition::ConditionType;
use crate::resources::{
    Accounting, Condition, RunPhase, SharedWorkflowSource, Workflow, WorkflowRunStatus,
};

use super::Creator;

/// Runs still Pending this long after creation are judged on what the caches show;
/// before that, a missing workflow may just not have reached the cache yet.
pub const GRACE: Duration = Duration::from_secs(5);
/// When to judge a young run again that the caches refuse.
pub const YOUNG_RETRY: Duration = Duration::from_secs(1);

/// Why a workflow cannot run here (a CamelCase reason and a sentence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

fn refuse(reason: &'static str, message: String) -> Refusal {
    Refusal { reason, message }
}

/// A library entry as the cache shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntryFacts<'a> {
    /// Labelled as managed by workflow-share.
    pub managed: bool,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// The recipient's choice.
    pub enabled: Option<bool>,
    /// Marked suspended: its workflow is archived or not de-identified.
    pub suspended: bool,
    pub source: &'a SharedWorkflowSource,
}

/// What the caches show of the workflow a run names (`None`: nothing of that name).
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    Workflow(Option<&'a Workflow>),
    SharedWorkflow(Option<EntryFacts<'a>>),
}

/// Who asks to run which workflow (by name) where.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub namespace: &'a str,
    pub workflow: &'a str,
    pub user: &'a str,
}

/// The question the caches leave to the API server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Question<'a> {
    /// May the user get the workflow? A private workflow of someone else is not
    /// theirs to run.
    MayGetWorkflow,
    /// Is `source` shared with the run's workspace now (the grant as it is, not the
    /// entry that may outlive it a moment)?
    StillShared(&'a SharedWorkflowSource),
}

/// Judges what the caches show: a Workflow of the workspace that is not archived,
/// or a SharedWorkflow that is here (granted, not suspended) and enabled. Returns
/// the question left to ask, or why not.
pub fn check_cached<'a>(request: &Request<'_>, seen: Seen<'a>) -> Result<Question<'a>, Refusal> {
    let Request {
        namespace,
        workflow: name,
        ..
    } = *request;
    match seen {
        Seen::Workflow(None) => Err(refuse(
            "WorkflowNotFound",
            format!("no Workflow {name} in {namespace}"),
        )),
        Seen::Workflow(Some(wf)) if wf.spec.archived => Err(refuse(
            "WorkflowArchived",
            format!("workflow {name} is archived"),
        )),
        Seen::Workflow(Some(_)) => Ok(Question::MayGetWorkflow),
        // An entry being deleted is gone, whatever holds it back.
        Seen::SharedWorkflow(entry) => match entry.filter(|e| e.managed && !e.deleting) {
            None => Err(refuse(
                "SharedWorkflowNotFound",
                format!(
                    "no SharedWorkflow {name} in {namespace}: it was never shared here, was revoked, or is suspended (archived or not de-identified)"
                ),
            )),
            Some(e) if e.suspended => Err(refuse(
                "Suspended",
                format!(
                    "SharedWorkflow {name} in {namespace} is suspended: its workflow is archived or not de-identified"
                ),
            )),
            Some(e) if e.enabled != Some(true) => Err(refuse(
                "NotEnabled",
                format!("SharedWorkflow {name} is not enabled in {namespace}"),
            )),
            Some(e) => Ok(Question::StillShared(e.source)),
        },
    }
}

/// Judges the API server's answer to `question`.
pub fn check_answer(
    request: &Request<'_>,
    question: &Question<'_>,
    yes: bool,
) -> Result<(), Refusal> {
    if yes {
        return Ok(());
    }
    Err(match question {
        Question::MayGetWorkflow => refuse(
            "WorkflowNotVisible",
            format!("{} may not see workflow {}", request.user, request.workflow),
        ),
        Question::StillShared(source) => refuse(
            "NotGranted",
            format!(
                "workflow {}/{} is not shared with {} any more (revoked, archived or not de-identified)",
                source.namespace, source.name, request.namespace
            ),
        ),
    })
}

/// A run once it left Pending is decided; an executor takes it from there.
pub fn decided(status: Option<&WorkflowRunStatus>) -> bool {
    status.is_some_and(|s| s.phase != RunPhase::Pending)
}

/// Who the run runs as: its stamped creator, unless it names another in `runAs` (a
/// trigger's run: the controller set runAs to the trigger's creator and copied their
/// groups into the stamp). A run with neither is refused.
pub fn runner(stamped: Option<Creator>, run_as: &str) -> Result<Creator, Refusal> {
    let runner = match stamped {
        Some(creator) if run_as.is_empty() || run_as == creator.user => creator,
        Some(creator) => Creator {
            user: run_as.to_string(),
            groups: creator.groups,
        },
        None => Creator {
            user: run_as.to_string(),
            groups: Vec::new(),
        },
    };
    if runner.user.is_empty() {
        return Err(refuse(
            "RunAsMissing",
            "the run has no runAs: create runs through the API server, which stamps it".into(),
        ));
    }
    Ok(runner)
}

/// When to judge a refused run again instead of rejecting it: while it is younger
/// than `GRACE`, the caches may not show its workflow yet.
pub fn retry_young(
    decision: &Result<(), Refusal>,
    created: Option<Timestamp>,
    now: Timestamp,
) -> Option<Duration> {
    let young = created.is_some_and(|t| now.duration_since(t).as_secs() < GRACE.as_secs() as i64);
    (decision.is_err() && young).then_some(YOUNG_RETRY)
}

/// The status that records the decision: Accepted or Rejected (final, so Stalled),
/// accounted to the run's workspace.
pub fn status(
    decision: Result<(), Refusal>,
    request: &Request<'_>,
    organization: &str,
    generation: Option<i64>,
) -> WorkflowRunStatus {
    let (phase, reason, message, ready) = match decision {
        Ok(()) => (
            RunPhase::Accepted,
            "Accepted".to_string(),
            format!(
                "runs as {}; usage accounted to workspace {}",
                request.user, request.namespace
            ),
            true,
        ),
        Err(r) => (RunPhase::Rejected, r.reason.to_string(), r.message, false),
    };
    WorkflowRunStatus {
        observed_generation: generation,
        conditions: vec![
            Condition::new(ConditionType::Ready, ready, &reason, message.clone()),
            Condition::new(
                ConditionType::Stalled,
                !ready,
                if ready { "Accepted" } else { &reason },
                if ready {
                    String::new()
                } else {
                    message.clone()
                },
            ),
        ],
        phase,
        reason,
        message,
        accounted_to: Some(Accounting {
            workspace: request.namespace.to_string(),
            organization: organization.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::WorkflowSpec;

    const REQUEST: Request<'static> = Request {
        namespace: "support",
        workflow: "report",
        user: "bob",
    };

    fn workflow(archived: bool) -> Workflow {
        Workflow::new(
            "report",
            WorkflowSpec {
                archived,
                ..Default::default()
            },
        )
    }

    fn source() -> SharedWorkflowSource {
        SharedWorkflowSource {
            namespace: "sales".into(),
            name: "report".into(),
            ..Default::default()
        }
    }

    /// Both steps as the controller takes them: the caches, then (only if they
    /// leave it open) the answer. Returns the question asked and the decision.
    fn judge(seen: Seen<'_>, answer: bool) -> (Option<&'static str>, Result<(), &'static str>) {
        match check_cached(&REQUEST, seen) {
            Err(r) => (None, Err(r.reason)),
            Ok(question) => {
                let asked = match question {
                    Question::MayGetWorkflow => "may get workflow",
                    Question::StillShared(_) => "still shared",
                };
                let decision = check_answer(&REQUEST, &question, answer).map_err(|r| r.reason);
                (Some(asked), decision)
            }
        }
    }

    #[test]
    fn availability_table() {
        let (live, archived, src) = (workflow(false), workflow(true), source());
        let entry = |managed, deleting, enabled| {
            Some(EntryFacts {
                managed,
                deleting,
                enabled,
                suspended: false,
                source: &src,
            })
        };
        let suspended = Some(EntryFacts {
            managed: true,
            deleting: false,
            enabled: Some(true),
            suspended: true,
            source: &src,
        });
        type Expected = (Option<&'static str>, Result<(), &'static str>);
        let cases: Vec<(&str, Seen<'_>, bool, Expected)> = vec![
            (
                "no workflow of that name",
                Seen::Workflow(None),
                true,
                (None, Err("WorkflowNotFound")),
            ),
            (
                "archived workflow: refused before asking",
                Seen::Workflow(Some(&archived)),
                true,
                (None, Err("WorkflowArchived")),
            ),
            (
                "workflow the user may get",
                Seen::Workflow(Some(&live)),
                true,
                (Some("may get workflow"), Ok(())),
            ),
            (
                "someone else's private workflow",
                Seen::Workflow(Some(&live)),
                false,
                (Some("may get workflow"), Err("WorkflowNotVisible")),
            ),
            (
                "no entry of that name",
                Seen::SharedWorkflow(None),
                true,
                (None, Err("SharedWorkflowNotFound")),
            ),
            (
                "an enabled entry, suspended: refused before asking",
                Seen::SharedWorkflow(suspended),
                true,
                (None, Err("Suspended")),
            ),
            (
                "an entry not ours",
                Seen::SharedWorkflow(entry(false, false, Some(true))),
                true,
                (None, Err("SharedWorkflowNotFound")),
            ),
            (
                "an entry being deleted",
                Seen::SharedWorkflow(entry(true, true, Some(true))),
                true,
                (None, Err("SharedWorkflowNotFound")),
            ),
            (
                "an entry not enabled yet",
                Seen::SharedWorkflow(entry(true, false, None)),
                true,
                (None, Err("NotEnabled")),
            ),
            (
                "an entry disabled",
                Seen::SharedWorkflow(entry(true, false, Some(false))),
                true,
                (None, Err("NotEnabled")),
            ),
            (
                "an enabled entry still granted",
                Seen::SharedWorkflow(entry(true, false, Some(true))),
                true,
                (Some("still shared"), Ok(())),
            ),
            (
                "an enabled entry whose grant ended",
                Seen::SharedWorkflow(entry(true, false, Some(true))),
                false,
                (Some("still shared"), Err("NotGranted")),
            ),
        ];
        for (case, seen, answer, expected) in cases {
            assert_eq!(judge(seen, answer), expected, "{case}");
        }
    }

    #[test]
    fn refusal_messages_name_what_is_missing() {
        let src = source();
        let not_granted = check_answer(&REQUEST, &Question::StillShared(&src), false);
        assert_eq!(
            not_granted.unwrap_err().message,
            "workflow sales/report is not shared with support any more (revoked, archived or not de-identified)"
        );
        let not_visible = check_answer(&REQUEST, &Question::MayGetWorkflow, false);
        assert_eq!(
            not_visible.unwrap_err().message,
            "bob may not see workflow report"
        );
        let missing = check_cached(&REQUEST, Seen::Workflow(None));
        assert_eq!(
            missing.unwrap_err().message,
            "no Workflow report in support"
        );
    }

    #[test]
    fn runner_table() {
        let stamped = |user: &str, groups: &[&str]| {
            Some(Creator {
                user: user.into(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
            })
        };
        // (case, stamp, runAs, expected user and groups or refusal)
        type Expected = Result<(&'static str, Vec<&'static str>), &'static str>;
        let cases: Vec<(&str, Option<Creator>, &str, Expected)> = vec![
            (
                "stamped, no runAs",
                stamped("alice", &["team"]),
                "",
                Ok(("alice", vec!["team"])),
            ),
            (
                "stamped, runAs the same",
                stamped("alice", &["team"]),
                "alice",
                Ok(("alice", vec!["team"])),
            ),
            (
                "a trigger's run: runAs its creator, with the stamped groups",
                stamped("controller", &["copied"]),
                "carol",
                Ok(("carol", vec!["copied"])),
            ),
            (
                "no stamp: runAs alone, no groups",
                None,
                "dave",
                Ok(("dave", vec![])),
            ),
            ("no stamp, no runAs", None, "", Err("RunAsMissing")),
            (
                "stamped with no user",
                stamped("", &[]),
                "",
                Err("RunAsMissing"),
            ),
        ];
        for (case, stamp, run_as, expected) in cases {
            let got = runner(stamp, run_as)
                .map(|c| (c.user, c.groups))
                .map_err(|r| r.reason);
            let expected = expected.map(|(u, g)| {
                (
                    u.to_string(),
                    g.into_iter().map(String::from).collect::<Vec<_>>(),
                )
            });
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn young_retry_table() {
        let at = |s: &str| s.parse::<Timestamp>().expect("timestamp");
        let now = at("2026-01-01T00:00:10Z");
        let refused = || Err(refuse("WorkflowNotFound", String::new()));
        let cases = [
            (
                "refused at 4s: the cache may lag",
                refused(),
                Some(at("2026-01-01T00:00:06Z")),
                Some(YOUNG_RETRY),
            ),
            (
                "refused at 5s: judged",
                refused(),
                Some(at("2026-01-01T00:00:05Z")),
                None,
            ),
            (
                "accepted young: no wait",
                Ok(()),
                Some(at("2026-01-01T00:00:09Z")),
                None,
            ),
            ("refused, no creation time: judged", refused(), None, None),
        ];
        for (case, decision, created, retry) in cases {
            assert_eq!(retry_young(&decision, created, now), retry, "{case}");
        }
    }

    #[test]
    fn status_table() {
        let refusal = refuse("NotEnabled", "not enabled".into());
        let cases = [
            (
                "accepted",
                Ok(()),
                RunPhase::Accepted,
                (
                    "Accepted",
                    "runs as bob; usage accounted to workspace support",
                ),
                [
                    ("Ready", "True", "Accepted"),
                    ("Stalled", "False", "Accepted"),
                ],
            ),
            (
                "rejected",
                Err(refusal),
                RunPhase::Rejected,
                ("NotEnabled", "not enabled"),
                [
                    ("Ready", "False", "NotEnabled"),
                    ("Stalled", "True", "NotEnabled"),
                ],
            ),
        ];
        for (case, decision, phase, (reason, message), conditions) in cases {
            let s = status(decision, &REQUEST, "acme", Some(3));
            assert_eq!(
                (s.phase, s.reason.as_str(), s.message.as_str()),
                (phase, reason, message),
                "{case}"
            );
            let got: Vec<(&str, &str, &str)> = s
                .conditions
                .iter()
                .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
                .collect();
            assert_eq!(got, conditions, "{case}");
            assert_eq!(s.observed_generation, Some(3), "{case}");
            let accounted = s.accounted_to.expect("accounted");
            assert_eq!(
                (
                    accounted.workspace.as_str(),
                    accounted.organization.as_str()
                ),
                ("support", "acme"),
                "{case}"
            );
        }
        assert!(!decided(None));
        for (phase, done) in [
            (RunPhase::Pending, false),
            (RunPhase::Accepted, true),
            (RunPhase::Rejected, true),
            (RunPhase::Running, true),
        ] {
            let s = WorkflowRunStatus {
                phase,
                ..Default::default()
            };
            assert_eq!(decided(Some(&s)), done, "{phase:?}");
        }
    }
}
