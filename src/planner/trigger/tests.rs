//! Table tests of a trigger's pass: ticks, fire checks, status and pruning.

use super::*;
use crate::resources::{RunnableRef, Schedule, WorkflowRunSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn spec(type_: TriggerType, cron: Option<&str>, suspend: bool) -> TriggerSpec {
    TriggerSpec {
        type_,
        workflow_ref: RunnableRef::default(),
        schedule: cron.map(|c| Schedule {
            cron: c.to_string(),
            ..Default::default()
        }),
        app_event: None,
        webhook: None,
        suspend,
        history_limit: 2,
    }
}

fn idle(ready: bool, reason: &'static str, message: &str) -> Tick {
    Tick::Idle {
        ready,
        reason,
        message: message.to_string(),
    }
}

fn scheduled(fire: Option<&str>, next: Option<&str>) -> Tick {
    Tick::Scheduled(Decision {
        fire: fire.map(at),
        next: next.map(at),
    })
}

#[test]
fn tick_table() {
    use TriggerType::*;
    let now = at("2026-03-02T10:05:30Z");
    let created = Some(at("2026-03-01T00:00:00Z"));
    // (case, spec, last fire, created, expected)
    let cases = [
        (
            "due: fires the latest time since the last fire",
            spec(Schedule, Some("*/5 * * * *"), false),
            Some("2026-03-02T10:00:00Z"),
            created,
            scheduled(Some("2026-03-02T10:05:00Z"), Some("2026-03-02T10:10:00Z")),
        ),
        (
            "already fired for this time",
            spec(Schedule, Some("*/5 * * * *"), false),
            Some("2026-03-02T10:05:00Z"),
            created,
            scheduled(None, Some("2026-03-02T10:10:00Z")),
        ),
        (
            "never fired: counted from its creation",
            spec(Schedule, Some("*/5 * * * *"), false),
            None,
            Some(at("2026-03-02T10:04:00Z")),
            scheduled(Some("2026-03-02T10:05:00Z"), Some("2026-03-02T10:10:00Z")),
        ),
        (
            "created after the last scheduled time: waits",
            spec(Schedule, Some("*/5 * * * *"), false),
            None,
            Some(at("2026-03-02T10:05:10Z")),
            scheduled(None, Some("2026-03-02T10:10:00Z")),
        ),
        (
            "no creation time: counted from now",
            spec(Schedule, Some("*/5 * * * *"), false),
            None,
            None,
            scheduled(None, Some("2026-03-02T10:10:00Z")),
        ),
        (
            "an unreadable last fire counts as none",
            spec(Schedule, Some("*/5 * * * *"), false),
            Some("yesterday"),
            Some(at("2026-03-02T10:04:00Z")),
            scheduled(Some("2026-03-02T10:05:00Z"), Some("2026-03-02T10:10:00Z")),
        ),
        (
            "suspended",
            spec(Schedule, Some("*/5 * * * *"), true),
            None,
            created,
            idle(true, "Suspended", "suspended: no new fires"),
        ),
        (
            "suspended before its schedule is read",
            spec(Schedule, Some("not cron"), true),
            None,
            created,
            idle(true, "Suspended", "suspended: no new fires"),
        ),
        (
            "no schedule",
            spec(Schedule, None, false),
            None,
            created,
            idle(false, "InvalidSchedule", "spec.schedule is required"),
        ),
        (
            "webhook: signed requests fire it (see planner::webhook), never the clock",
            spec(Webhook, None, true),
            None,
            created,
            idle(
                true,
                "Listening",
                "fired by signed requests to its webhook path",
            ),
        ),
        (
            "app event",
            spec(AppEvent, Some("*/5 * * * *"), false),
            None,
            created,
            idle(
                true,
                "Listening",
                "fired by signed requests to its webhook path",
            ),
        ),
    ];
    for (case, spec, last, created, expected) in cases {
        let got = tick(&spec, last, created, now);
        assert_eq!(got.due(), expected.due(), "{case}");
        assert_eq!(got, expected, "{case}");
    }
    let bad = tick(
        &spec(Schedule, Some("61 * * * *"), false),
        None,
        created,
        now,
    );
    assert!(
        matches!(&bad, Tick::Idle { ready: false, reason: "InvalidSchedule", message } if message.starts_with("spec.schedule.cron:")),
        "{bad:?}"
    );
}

#[test]
fn fire_checks_table() {
    let creator = Creator {
        user: "alice".into(),
        groups: vec!["team".into()],
    };
    // (case, stamped creator, may create runs, run refused for, outcome)
    let cases = [
        ("no stamped creator", None, true, None, Err("NoCreator")),
        (
            "creator may not create runs",
            Some(creator.clone()),
            false,
            None,
            Err("CreatorMayNotRun"),
        ),
        (
            "the run would be refused",
            Some(creator.clone()),
            true,
            Some("NotEnabled"),
            Err("NotEnabled"),
        ),
        (
            "fires as its creator",
            Some(creator.clone()),
            true,
            None,
            Ok("alice"),
        ),
    ];
    for (case, stamped, may_run, refused, expected) in cases {
        // As the controller takes them: each only while the earlier allow it.
        let judged = check_creator(stamped).and_then(|c| {
            check_creator_may_run(may_run)?;
            refused.map_or(Ok(c), Err)
        });
        assert_eq!(
            judged.as_ref().map(|c| c.user.as_str()).map_err(|r| *r),
            expected,
            "{case}"
        );
    }
    let t = at("2026-03-02T10:05:00Z");
    assert_eq!(
        fire_record(t, Ok("nightly-29540765".into())),
        Fire {
            scheduled_time: "2026-03-02T10:05:00Z".into(),
            run: "nightly-29540765".into(),
            outcome: "Created".into(),
        }
    );
    assert_eq!(fire_record(t, Err("NoCreator")).run, "");
    assert_eq!(run_name("nightly", t), "nightly-29540765");
    assert_eq!(
        run_name("nightly", at("2026-03-02T10:05:59Z")),
        "nightly-29540765"
    );
}

fn created_fire(t: &str) -> Fire {
    fire_record(at(t), Ok(format!("run-{t}")))
}

#[test]
fn conclude_table() {
    let now = at("2026-03-02T10:05:30Z");
    let earlier = TriggerStatus {
        last_fire_time: Some("2026-03-02T10:00:00Z".into()),
        recent_fires: vec![
            created_fire("2026-03-02T10:00:00Z"),
            created_fire("2026-03-02T09:55:00Z"),
        ],
        next_fire_time: Some("stale".into()),
        ..Default::default()
    };
    let refused_before = TriggerStatus {
        recent_fires: vec![fire_record(at("2026-03-02T10:00:00Z"), Err("NoCreator"))],
        ..Default::default()
    };
    struct Case {
        case: &'static str,
        previous: TriggerStatus,
        tick: Tick,
        fired: Option<Fire>,
        ready: (&'static str, &'static str),
        stalled: &'static str,
        fires: usize,
        last: Option<&'static str>,
        requeue: Duration,
    }
    let cases = [
        Case {
            case: "fired: recorded first, history kept to the limit",
            previous: earlier.clone(),
            tick: scheduled(Some("2026-03-02T10:05:00Z"), Some("2026-03-02T10:10:00Z")),
            fired: Some(created_fire("2026-03-02T10:05:00Z")),
            ready: ("True", "Scheduled"),
            stalled: "False",
            fires: 2,
            last: Some("2026-03-02T10:05:00Z"),
            requeue: Duration::from_secs(271),
        },
        Case {
            case: "refused: Ready false with the refusal's reason",
            previous: earlier.clone(),
            tick: scheduled(Some("2026-03-02T10:05:00Z"), Some("2026-03-02T10:10:00Z")),
            fired: Some(fire_record(
                at("2026-03-02T10:05:00Z"),
                Err("CreatorMayNotRun"),
            )),
            ready: ("False", "CreatorMayNotRun"),
            stalled: "False",
            fires: 2,
            last: Some("2026-03-02T10:05:00Z"),
            requeue: Duration::from_secs(271),
        },
        Case {
            case: "nothing due: the last refusal still shows",
            previous: refused_before.clone(),
            tick: scheduled(None, Some("2026-03-02T10:10:00Z")),
            fired: None,
            ready: ("False", "NoCreator"),
            stalled: "False",
            fires: 1,
            last: None,
            requeue: Duration::from_secs(271),
        },
        Case {
            case: "next time far off: the periodic pass comes first",
            previous: TriggerStatus::default(),
            tick: scheduled(None, Some("2026-03-03T00:00:00Z")),
            fired: None,
            ready: ("True", "Scheduled"),
            stalled: "False",
            fires: 0,
            last: None,
            requeue: RESYNC,
        },
        Case {
            case: "no next time",
            previous: TriggerStatus::default(),
            tick: scheduled(None, None),
            fired: None,
            ready: ("True", "Scheduled"),
            stalled: "False",
            fires: 0,
            last: None,
            requeue: RESYNC,
        },
        Case {
            case: "suspended: history kept, no next time",
            previous: earlier.clone(),
            tick: idle(true, "Suspended", "suspended: no new fires"),
            fired: None,
            ready: ("True", "Suspended"),
            stalled: "False",
            fires: 2,
            last: Some("2026-03-02T10:00:00Z"),
            requeue: RESYNC,
        },
        Case {
            case: "invalid schedule: stalled",
            previous: TriggerStatus::default(),
            tick: idle(false, "InvalidSchedule", "spec.schedule is required"),
            fired: None,
            ready: ("False", "InvalidSchedule"),
            stalled: "True",
            fires: 0,
            last: None,
            requeue: RESYNC,
        },
    ];
    for c in cases {
        let (status, requeue) = conclude(c.previous, &c.tick, c.fired, 2, now);
        let case = c.case;
        let ready = &status.conditions[0];
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            c.ready,
            "{case}"
        );
        assert_eq!(status.conditions[2].status, c.stalled, "{case}");
        assert_eq!(status.recent_fires.len(), c.fires, "{case}");
        assert_eq!(status.last_fire_time.as_deref(), c.last, "{case}");
        assert_eq!(requeue, c.requeue, "{case}");
        let next = match &c.tick {
            Tick::Scheduled(d) => d.next.map(|t| t.to_string()),
            Tick::Idle { .. } => None,
        };
        assert_eq!(status.next_fire_time, next, "{case}");
    }
}

#[test]
fn messages_say_what_next() {
    let now = at("2026-03-02T10:05:30Z");
    let (s, _) = conclude(
        TriggerStatus::default(),
        &scheduled(None, Some("2026-03-02T10:10:00Z")),
        None,
        2,
        now,
    );
    assert_eq!(s.conditions[0].message, "next fire at 2026-03-02T10:10:00Z");
    let (s, _) = conclude(
        TriggerStatus::default(),
        &scheduled(Some("2026-03-02T10:05:00Z"), None),
        Some(fire_record(at("2026-03-02T10:05:00Z"), Err("NoCreator"))),
        2,
        now,
    );
    assert_eq!(
        s.conditions[0].message,
        "the fire of 2026-03-02T10:05:00Z was refused (NoCreator): the trigger runs only as its creator, who must be able to run the workflow"
    );
}

fn run(name: &str, at: &str, owner: &str, managed: bool, trigger: &str) -> WorkflowRun {
    let mut r = WorkflowRun::new(
        name,
        WorkflowRunSpec {
            trigger_ref: Some(trigger.to_string()),
            scheduled_time: Some(at.to_string()),
            ..Default::default()
        },
    );
    r.metadata.namespace = Some("sales".into());
    r.metadata.owner_references = Some(vec![OwnerReference {
        uid: owner.to_string(),
        ..Default::default()
    }]);
    let mut labels = std::collections::BTreeMap::from([(
        labels::TRIGGER.to_string(),
        naming::label_value(trigger),
    )]);
    if managed {
        labels.insert(
            labels::MANAGED_BY_KEY.to_string(),
            labels::MANAGED_BY_VALUE.to_string(),
        );
    }
    r.metadata.labels = Some(labels);
    r
}

#[test]
fn prune_table() {
    let owner = Owner {
        namespace: "sales",
        name: "nightly",
        uid: "t-1",
    };
    let ours = |name, at| run(name, at, "t-1", true, "nightly");
    let mut elsewhere = ours("elsewhere", "2026-01-01T00:00:00Z");
    elsewhere.metadata.namespace = Some("support".into());
    // (case, runs, history limit, pruned)
    let cases: Vec<(&str, Vec<WorkflowRun>, i32, Vec<&str>)> = vec![
        (
            "oldest beyond the limit go",
            vec![
                ours("b", "2026-01-02T00:00:00Z"),
                ours("a", "2026-01-01T00:00:00Z"),
                ours("c", "2026-01-03T00:00:00Z"),
            ],
            2,
            vec!["a"],
        ),
        (
            "within the limit: none",
            vec![ours("a", "2026-01-01T00:00:00Z")],
            2,
            vec![],
        ),
        (
            "a limit below one keeps one",
            vec![
                ours("a", "2026-01-01T00:00:00Z"),
                ours("b", "2026-01-02T00:00:00Z"),
            ],
            0,
            vec!["a"],
        ),
        (
            "same time: by name, last name kept",
            vec![
                ours("x", "2026-01-01T00:00:00Z"),
                ours("y", "2026-01-01T00:00:00Z"),
            ],
            1,
            vec!["x"],
        ),
        (
            "runs not made for it stay",
            vec![
                ours("new", "2026-01-05T00:00:00Z"),
                run(
                    "copied-owner",
                    "2026-01-01T00:00:00Z",
                    "t-1",
                    false,
                    "nightly",
                ),
                run(
                    "other-owner",
                    "2026-01-01T00:00:00Z",
                    "t-2",
                    true,
                    "nightly",
                ),
                run(
                    "other-trigger",
                    "2026-01-01T00:00:00Z",
                    "t-1",
                    true,
                    "hourly",
                ),
                elsewhere,
            ],
            1,
            vec![],
        ),
    ];
    for (case, runs, limit, pruned) in cases {
        assert_eq!(runs_to_prune(owner, limit, &runs), pruned, "{case}");
    }
}
