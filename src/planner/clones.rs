//! Whether a WorkflowClone may copy its shared workflow, and the status that says
//! so. The controller looks up the library entry, asks whether the grant still
//! holds, reads the source and the target, and creates the copy; each of those
//! facts is judged here, pure, in the order the controller gathers them, so every
//! refusal (and whether a retry could fix it) is table-tested without a cluster.

use std::time::Duration;

use crate::labels;
use crate::resources::condition::ConditionType;
use crate::resources::{Access, Condition, SharedWorkflowSource, Workflow, WorkflowCloneStatus};

use super::runs::EntryFacts;

/// When to try again a clone refused for now.
pub const RETRY: Duration = Duration::from_secs(10);

/// Why a clone cannot be made (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
    /// A retry cannot fix it (kstatus Stalled).
    pub final_: bool,
}

fn refuse(reason: &'static str, final_: bool, message: String) -> Refusal {
    Refusal {
        reason,
        message,
        final_,
    }
}

/// A clone request: copy `entry` into a Workflow `target`, both in `namespace`.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub namespace: &'a str,
    /// The SharedWorkflow named.
    pub entry: &'a str,
    pub target: &'a str,
    /// The WorkflowClone's own name, which the copy records.
    pub clone: &'a str,
}

/// What a copy's target name holds before creating it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// This request's copy, made by an earlier attempt: done.
    Ours,
    /// Nothing: create the copy.
    Free,
}

/// `namespace/name` of a source, as statuses and the copy record it.
pub fn from(source: &SharedWorkflowSource) -> String {
    format!("{}/{}", source.namespace, source.name)
}

/// A clone Ready or Stalled is done: a clone happens once.
pub fn done(status: Option<&WorkflowCloneStatus>) -> bool {
    status.is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| (c.is(ConditionType::Ready) || c.is(ConditionType::Stalled)) && c.is_true())
    })
}

/// Judges the library entry the cache shows: it must be there, not being deleted
/// (gone, whatever holds it back), and made by workflow-share. Returns its source.
pub fn check_entry<'a>(
    request: &Request<'_>,
    entry: Option<EntryFacts<'a>>,
) -> Result<&'a SharedWorkflowSource, Refusal> {
    let Request {
        namespace,
        entry: name,
        ..
    } = *request;
    match entry.filter(|e| !e.deleting) {
        None => Err(refuse(
            "SharedWorkflowNotFound",
            false,
            format!("no SharedWorkflow {name} in {namespace}"),
        )),
        Some(e) if !e.managed => Err(refuse(
            "NotShared",
            true,
            format!("{name} was not shared by workflow-share"),
        )),
        // Not final: access returns when the workflow is restored.
        Some(e) if e.suspended => Err(refuse(
            "Suspended",
            false,
            format!("{name} is suspended: its workflow is archived or not de-identified"),
        )),
        Some(e) => Ok(e.source),
    }
}

/// Judges the grant as it is now (`access`, asked right before the source is read)
/// and the source the cache shows then: shared with View access, and the very
/// workflow the entry stands for (same UID). Returns the workflow to copy.
pub fn check_grant<'a>(
    request: &Request<'_>,
    source: &SharedWorkflowSource,
    access: Option<Access>,
    original: Option<&'a Workflow>,
) -> Result<&'a Workflow, Refusal> {
    let from = from(source);
    match access {
        None => {
            return Err(refuse(
                "NotGranted",
                false,
                format!(
                    "workflow {from} is not shared with {} (any more)",
                    request.namespace
                ),
            ));
        }
        Some(Access::Run) => {
            return Err(refuse(
                "RunAccessOnly",
                true,
                "the workflow is shared with Run access: it can be run but not cloned".into(),
            ));
        }
        Some(Access::View) => {}
    }
    original
        .filter(|w| w.metadata.uid.as_deref() == Some(source.uid.as_str()))
        .ok_or_else(|| {
            refuse(
                "SourceNotFound",
                false,
                format!("workflow {from} does not exist"),
            )
        })
}

/// Whether `workflow` is the copy this request made. Annotations anyone can write;
/// the managed-by label only the controller may set (an admission policy). A target
/// without both is someone else's.
pub fn ours(workflow: &Workflow, clone: &str) -> bool {
    let meta = &workflow.metadata;
    let label = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::MANAGED_BY_KEY));
    let request = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(labels::CLONED_BY_REQUEST));
    label.map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
        && request.map(String::as_str) == Some(clone)
}

/// Judges what the target name holds now.
pub fn check_target(request: &Request<'_>, existing: Option<&Workflow>) -> Result<Target, Refusal> {
    match existing {
        None => Ok(Target::Free),
        Some(w) if ours(w, request.clone) => Ok(Target::Ours),
        Some(_) => Err(refuse(
            "TargetExists",
            true,
            format!(
                "a Workflow named {} already exists in {}",
                request.target, request.namespace
            ),
        )),
    }
}

/// The target was made meanwhile (creating it conflicted), by an earlier attempt or
/// by someone else: judged next time.
pub fn target_appeared(request: &Request<'_>) -> Refusal {
    refuse(
        "TargetExists",
        false,
        format!(
            "a Workflow named {} appeared in {}; checking whose it is",
            request.target, request.namespace
        ),
    )
}

/// The status that records the outcome (`Ok`: the source copied, as `from` names
/// it), and when to try again (only after a refusal a retry could fix).
pub fn status(
    outcome: &Result<String, Refusal>,
    target: &str,
    generation: Option<i64>,
    cloned_by: Option<String>,
) -> (WorkflowCloneStatus, Option<Duration>) {
    let (conditions, workflow, cloned_from, retry) = match outcome {
        Ok(from) => (
            vec![
                Condition::new(
                    ConditionType::Ready,
                    true,
                    "Cloned",
                    format!("copied {from} to {target}"),
                ),
                Condition::new(ConditionType::Stalled, false, "Cloned", ""),
            ],
            Some(target.to_string()),
            Some(from.clone()),
            None,
        ),
        Err(r) => (
            vec![
                Condition::new(ConditionType::Ready, false, r.reason, r.message.clone()),
                Condition::new(
                    ConditionType::Stalled,
                    r.final_,
                    r.reason,
                    r.message.clone(),
                ),
            ],
            None,
            None,
            (!r.final_).then_some(RETRY),
        ),
    };
    let status = WorkflowCloneStatus {
        observed_generation: generation,
        conditions,
        workflow,
        cloned_from,
        cloned_by,
    };
    (status, retry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::WorkflowSpec;

    const REQUEST: Request<'static> = Request {
        namespace: "support",
        entry: "sales.report",
        target: "my-report",
        clone: "copy-1",
    };

    fn source() -> SharedWorkflowSource {
        SharedWorkflowSource {
            namespace: "sales".into(),
            name: "report".into(),
            uid: "uid-1".into(),
            ..Default::default()
        }
    }

    fn workflow(uid: &str, label: Option<&str>, request: Option<&str>) -> Workflow {
        let mut w = Workflow::new("my-report", WorkflowSpec::default());
        w.metadata.uid = Some(uid.into());
        w.metadata.labels =
            label.map(|v| [(labels::MANAGED_BY_KEY.to_string(), v.to_string())].into());
        w.metadata.annotations =
            request.map(|v| [(labels::CLONED_BY_REQUEST.to_string(), v.to_string())].into());
        w
    }

    /// (reason, final) of a refusal.
    fn judged<T>(r: Result<T, Refusal>) -> Result<T, (&'static str, bool)> {
        r.map_err(|r| (r.reason, r.final_))
    }

    #[test]
    fn entry_table() {
        let src = source();
        let entry = |managed, deleting| {
            Some(EntryFacts {
                managed,
                deleting,
                enabled: None,
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
        let cases = [
            (
                "no entry: it may come",
                None,
                Err(("SharedWorkflowNotFound", false)),
            ),
            (
                "suspended: it may come back",
                suspended,
                Err(("Suspended", false)),
            ),
            (
                "an entry being deleted is gone",
                entry(true, true),
                Err(("SharedWorkflowNotFound", false)),
            ),
            (
                "an entry being deleted, not ours",
                entry(false, true),
                Err(("SharedWorkflowNotFound", false)),
            ),
            (
                "an entry someone else made",
                entry(false, false),
                Err(("NotShared", true)),
            ),
            ("ours, enabled or not", entry(true, false), Ok(&src)),
        ];
        for (case, entry, expected) in cases {
            assert_eq!(judged(check_entry(&REQUEST, entry)), expected, "{case}");
        }
    }

    #[test]
    fn grant_table() {
        let src = source();
        let (same, other) = (workflow("uid-1", None, None), workflow("uid-2", None, None));
        let cases = [
            (
                "not shared (any more)",
                None,
                Some(&same),
                Err(("NotGranted", false)),
            ),
            (
                "Run access is not enough",
                Some(Access::Run),
                Some(&same),
                Err(("RunAccessOnly", true)),
            ),
            (
                "View access, source in the cache",
                Some(Access::View),
                Some(&same),
                Ok("uid-1"),
            ),
            (
                "View access, source gone",
                Some(Access::View),
                None,
                Err(("SourceNotFound", false)),
            ),
            (
                "View access, another workflow of the name",
                Some(Access::View),
                Some(&other),
                Err(("SourceNotFound", false)),
            ),
            (
                "no grant, source gone: the grant speaks first",
                None,
                None,
                Err(("NotGranted", false)),
            ),
        ];
        for (case, access, original, expected) in cases {
            let got = check_grant(&REQUEST, &src, access, original)
                .map(|w| w.metadata.uid.as_deref().unwrap_or_default());
            assert_eq!(judged(got), expected, "{case}");
        }
    }

    #[test]
    fn target_table() {
        let mine = workflow("t", Some("workflow-share"), Some("copy-1"));
        let cases = [
            ("free", None, Ok(Target::Free)),
            ("this request's copy", Some(mine), Ok(Target::Ours)),
            (
                "another request's copy",
                Some(workflow("t", Some("workflow-share"), Some("copy-2"))),
                Err(("TargetExists", true)),
            ),
            (
                "the annotation without the label is anyone's",
                Some(workflow("t", None, Some("copy-1"))),
                Err(("TargetExists", true)),
            ),
            (
                "a label of another manager",
                Some(workflow("t", Some("helm"), Some("copy-1"))),
                Err(("TargetExists", true)),
            ),
            (
                "someone's own workflow",
                Some(workflow("t", None, None)),
                Err(("TargetExists", true)),
            ),
        ];
        for (case, existing, expected) in cases {
            assert_eq!(
                judged(check_target(&REQUEST, existing.as_ref())),
                expected,
                "{case}"
            );
        }
        assert_eq!(
            judged(Err::<(), _>(target_appeared(&REQUEST))),
            Err(("TargetExists", false))
        );
    }

    #[test]
    fn status_table() {
        let cases = [
            (
                "cloned",
                Ok("sales/report".to_string()),
                [("Ready", "True", "Cloned"), ("Stalled", "False", "Cloned")],
                None,
            ),
            (
                "refused for now: retried",
                Err(refuse("NotGranted", false, "not shared".into())),
                [
                    ("Ready", "False", "NotGranted"),
                    ("Stalled", "False", "NotGranted"),
                ],
                Some(RETRY),
            ),
            (
                "refused for good: stalled, not retried",
                Err(refuse("RunAccessOnly", true, "run only".into())),
                [
                    ("Ready", "False", "RunAccessOnly"),
                    ("Stalled", "True", "RunAccessOnly"),
                ],
                None,
            ),
        ];
        for (case, outcome, conditions, retry) in cases {
            let (s, after) = status(&outcome, "my-report", Some(1), Some("bob".into()));
            let got: Vec<(&str, &str, &str)> = s
                .conditions
                .iter()
                .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
                .collect();
            assert_eq!(got, conditions, "{case}");
            assert_eq!(after, retry, "{case}");
            assert_eq!(s.workflow.is_some(), outcome.is_ok(), "{case}");
            assert_eq!(s.cloned_from, outcome.clone().ok(), "{case}");
            assert_eq!(s.cloned_by.as_deref(), Some("bob"), "{case}");
            // Once written, the clone is done unless a retry could still fix it.
            assert_eq!(done(Some(&s)), retry.is_none(), "{case}");
        }
        assert!(!done(None));
    }
}
