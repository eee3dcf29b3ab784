//! One pass of a trigger: whether its schedule fires now (given the spec, the last
//! fire, suspension and the clock), whether its creator may fire it, which of its
//! old runs go, and the status and requeue that follow. The controller gathers the
//! facts, asks the API server, creates and deletes runs, and writes the status; the
//! decisions are here, pure (the clock is an argument), so they are table-tested
//! rather than waited for on a control plane.

use std::time::Duration;

use jiff::Timestamp;

use crate::labels;
use crate::naming;
use crate::resources::condition::ConditionType;
use crate::resources::{Condition, Fire, TriggerSpec, TriggerStatus, TriggerType, WorkflowRun};

use super::Creator;
use super::schedule::{self, DEFAULT_STARTING_DEADLINE_SECONDS, Decision};

/// Periodic safety-net pass; a schedule's next time brings one sooner.
pub const RESYNC: Duration = Duration::from_secs(300);
/// The outcome of a fire that created its run.
pub const CREATED: &str = "Created";
/// Ready and Stalled reason of a schedule that cannot be used.
const INVALID_SCHEDULE: &str = "InvalidSchedule";

/// What the trigger's spec asks of this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// Nothing fires on the clock, and Ready says why (suspended, an unusable
    /// schedule, or fired by signed requests: see `planner::webhook::tick`).
    Idle {
        ready: bool,
        reason: &'static str,
        message: String,
    },
    /// A valid schedule: fire `decision.fire` now if set; `decision.next` comes next.
    Scheduled(Decision),
}

impl Tick {
    /// The scheduled time to fire for now, if one is due.
    pub fn due(&self) -> Option<Timestamp> {
        match self {
            Tick::Scheduled(decision) => decision.fire,
            Tick::Idle { .. } => None,
        }
    }
}

/// Decides this pass of a trigger: Schedule triggers fire at most the latest
/// scheduled time since the last fire (or their creation) within their deadline;
/// the others are fired by signed requests to the receiver.
pub fn tick(
    spec: &TriggerSpec,
    last_fire_time: Option<&str>,
    created: Option<Timestamp>,
    now: Timestamp,
) -> Tick {
    let idle = |ready, reason, message: String| Tick::Idle {
        ready,
        reason,
        message,
    };
    match (&spec.type_, &spec.schedule) {
        (TriggerType::Schedule, _) if spec.suspend => {
            idle(true, "Suspended", "suspended: no new fires".to_string())
        }
        (TriggerType::Schedule, Some(sched)) => {
            match schedule::parse(&sched.cron, sched.time_zone.as_deref()) {
                Err(e) => idle(false, INVALID_SCHEDULE, e.to_string()),
                Ok((cron, zone)) => {
                    let handled_until = last_fire_time
                        .and_then(|t| t.parse::<Timestamp>().ok())
                        .or(created)
                        .unwrap_or(now);
                    let deadline = sched
                        .starting_deadline_seconds
                        .unwrap_or(DEFAULT_STARTING_DEADLINE_SECONDS);
                    Tick::Scheduled(schedule::decide(&cron, &zone, handled_until, deadline, now))
                }
            }
        }
        (TriggerType::Schedule, None) => idle(
            false,
            INVALID_SCHEDULE,
            "spec.schedule is required".to_string(),
        ),
        _ => idle(
            true,
            "Listening",
            "fired by signed requests to its webhook path".to_string(),
        ),
    }
}

/// Name of the run of `trigger` for the fire scheduled at `at`: the same for every
/// attempt, so the API server refuses a second one.
pub fn run_name(trigger: &str, at: Timestamp) -> String {
    naming::fit_name(&format!("{trigger}-{}", at.as_second().div_euclid(60)))
}

/// Judges who a fire runs as: the trigger's stamped creator, never anyone else.
pub fn check_creator(stamped: Option<Creator>) -> Result<Creator, &'static str> {
    stamped.ok_or("NoCreator")
}

/// Judges the API server's answer to whether the creator may create runs here.
pub fn check_creator_may_run(yes: bool) -> Result<(), &'static str> {
    if yes { Ok(()) } else { Err("CreatorMayNotRun") }
}

/// The record of a fire at `at`: the run it created, or why it was refused.
pub fn fire_record(at: Timestamp, outcome: Result<String, &str>) -> Fire {
    let scheduled_time = at.to_string();
    match outcome {
        Ok(run) => Fire {
            scheduled_time,
            run,
            outcome: CREATED.to_string(),
        },
        Err(reason) => Fire {
            scheduled_time,
            run: String::new(),
            outcome: reason.to_string(),
        },
    }
}

/// How many fires and runs a trigger keeps (at least one).
fn kept(history_limit: i32) -> usize {
    usize::try_from(history_limit.max(1)).unwrap_or(usize::MAX)
}

/// The trigger's status after this pass, and when to look again. `next` is the
/// status so far (visibility refreshed, the fire history as it was); `fired` is the
/// record of the fire `tick` found due, if one was.
pub fn conclude(
    mut next: TriggerStatus,
    tick: &Tick,
    fired: Option<Fire>,
    history_limit: i32,
    now: Timestamp,
) -> (TriggerStatus, Duration) {
    let mut requeue = RESYNC;
    next.next_fire_time = None;
    let (ready, reason, message) = match tick {
        Tick::Idle {
            ready,
            reason,
            message,
        } => (*ready, reason.to_string(), message.clone()),
        Tick::Scheduled(decision) => {
            if let (Some(at), Some(fired)) = (tick.due(), fired) {
                next.last_fire_time = Some(at.to_string());
                next.recent_fires.insert(0, fired);
                next.recent_fires.truncate(kept(history_limit));
            }
            next.next_fire_time = decision.next.map(|t| t.to_string());
            if let Some(t) = decision.next {
                let wait = t.duration_since(now).as_secs().max(0) as u64;
                requeue = Duration::from_secs(wait + 1).min(RESYNC);
            }
            match next.recent_fires.first() {
                Some(f) if f.outcome != CREATED => (
                    false,
                    f.outcome.clone(),
                    format!(
                        "the fire of {} was refused ({}): the trigger runs only as its creator, who must be able to run the workflow",
                        f.scheduled_time, f.outcome
                    ),
                ),
                _ => (
                    true,
                    "Scheduled".to_string(),
                    format!(
                        "next fire at {}",
                        next.next_fire_time.as_deref().unwrap_or("never")
                    ),
                ),
            }
        }
    };
    let stalled = reason == INVALID_SCHEDULE;
    next.conditions = vec![
        Condition::new(ConditionType::Ready, ready, &reason, message.clone()),
        Condition::new(ConditionType::Reconciling, false, "Reconciled", ""),
        Condition::new(
            ConditionType::Stalled,
            stalled,
            if stalled { &reason } else { "Reconciled" },
            if stalled { message } else { String::new() },
        ),
    ];
    (next, requeue)
}

/// A trigger as the owner of runs.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

/// Whether `run` is one this controller made for `trigger`: an owner reference
/// anyone with `patch` can copy onto someone else's run, so it is not proof; the
/// managed-by label only the controller may set (an admission policy), with the
/// trigger's label, reference and UID, is.
pub fn is_run_of(trigger: Owner<'_>, run: &WorkflowRun) -> bool {
    let label_of = |key: &str| run.metadata.labels.as_ref().and_then(|l| l.get(key));
    run.metadata.namespace.as_deref() == Some(trigger.namespace)
        && (run.metadata.owner_references.iter().flatten()).any(|o| o.uid == trigger.uid)
        && label_of(labels::MANAGED_BY_KEY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
        && label_of(labels::TRIGGER) == Some(&naming::label_value(trigger.name))
        && run.spec.trigger_ref.as_deref() == Some(trigger.name)
}

/// The names of `trigger`'s oldest runs beyond its history limit: only runs this
/// controller made for it (`is_run_of`).
pub fn runs_to_prune<'a>(
    trigger: Owner<'_>,
    history_limit: i32,
    runs: impl IntoIterator<Item = &'a WorkflowRun>,
) -> Vec<String> {
    let mut mine: Vec<&WorkflowRun> = runs.into_iter().filter(|r| is_run_of(trigger, r)).collect();
    mine.sort_by(|a, b| {
        b.spec
            .scheduled_time
            .cmp(&a.spec.scheduled_time)
            .then_with(|| b.metadata.name.cmp(&a.metadata.name))
    });
    mine.iter()
        .skip(kept(history_limit))
        .filter_map(|r| r.metadata.name.clone())
        .collect()
}

#[cfg(test)]
mod tests;
