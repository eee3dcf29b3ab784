//! The trigger controller: who may see each Trigger (shared like workflows), and
//! Schedule triggers firing on their cron schedule as their creator. Webhook and
//! AppEvent triggers are fired by an executor (see the README); the controller only
//! keeps their visibility.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::error::{Error, Result};
use crate::labels;
use crate::metrics::WriteKind;
use crate::naming;
use crate::planner::schedule::{self, DEFAULT_STARTING_DEADLINE_SECONDS};
use crate::planner::{Creator, stamped_creator};
use crate::resources::condition::{ConditionType, now_rfc3339};
use crate::resources::{
    Condition, Fire, Trigger, TriggerStatus, TriggerType, WorkflowRun, WorkflowRunSpec,
};

use super::{runs, visibility};
use crate::controller::Context;
use crate::controller::sharing::authorize;
use crate::runtime::controllers::Loops;
use crate::runtime::status_writes;

const RESYNC: Duration = Duration::from_secs(300);

/// Starts the trigger controller: woken by its own changes, by the shares naming a
/// trigger, and by any change of who is in which workspace.
pub fn start(
    loops: &mut Loops,
    ctx: &Arc<Context>,
    changes: BoxStream<'static, Result<Trigger, watcher::Error>>,
    named: BoxStream<'static, ObjectRef<Trigger>>,
    audience: BoxStream<'static, ()>,
) {
    let controller = Controller::for_stream(changes, ctx.stores.triggers.clone())
        .reconcile_on(named)
        .reconcile_all_on(audience);
    loops.spawn("trigger", controller, ctx, reconcile);
}

/// Name of the run of `trigger` for the fire scheduled at `at`: the same for every
/// attempt, so the API server refuses a second one.
pub fn run_name(trigger: &str, at: jiff::Timestamp) -> String {
    naming::fit_name(&format!("{trigger}-{}", at.as_second().div_euclid(60)))
}

/// Creates the run of one fire, as the trigger's creator; or says why not.
async fn fire(
    ctx: &Context,
    trigger: &Trigger,
    namespace: &str,
    at: jiff::Timestamp,
) -> Result<Fire> {
    let name = trigger.name_any();
    let scheduled_time = at.to_string();
    let refused = |reason: &str| Fire {
        scheduled_time: scheduled_time.clone(),
        run: String::new(),
        outcome: reason.to_string(),
    };
    let Some(Creator {
        user: creator,
        groups,
    }) = stamped_creator(trigger.meta())
    else {
        return Ok(refused("NoCreator"));
    };
    if !authorize::may_now(
        ctx,
        "create",
        "workflowruns",
        namespace,
        "",
        &creator,
        groups.clone(),
    )
    .await?
    {
        return Ok(refused("CreatorMayNotRun"));
    }
    if let Err(refusal) = runs::availability(
        ctx,
        namespace,
        &trigger.spec.workflow_ref,
        &creator,
        groups.clone(),
    )
    .await?
    {
        return Ok(refused(refusal.reason));
    }
    let run_name = run_name(&name, at);
    let run = WorkflowRun {
        metadata: ObjectMeta {
            name: Some(run_name.clone()),
            namespace: Some(namespace.to_string()),
            labels: Some(
                [
                    (
                        labels::MANAGED_BY_KEY.to_string(),
                        labels::MANAGED_BY_VALUE.to_string(),
                    ),
                    (labels::TRIGGER.to_string(), naming::label_value(&name)),
                ]
                .into(),
            ),
            annotations: Some(
                [
                    (labels::CREATED_BY.to_string(), creator.clone()),
                    (labels::CREATED_BY_GROUPS.to_string(), groups.join("\n")),
                ]
                .into(),
            ),
            owner_references: crate::controller::sharing::apply::deleted_with(trigger)
                .map(|o| vec![o]),
            ..Default::default()
        },
        spec: WorkflowRunSpec {
            workflow_ref: trigger.spec.workflow_ref.clone(),
            run_as: creator,
            trigger_ref: Some(name),
            scheduled_time: Some(scheduled_time.clone()),
        },
        status: None,
    };
    let api: Api<WorkflowRun> = Api::namespaced(ctx.client.clone(), namespace);
    ctx.metrics.write(WriteKind::WorkflowRun);
    match api.create(&PostParams::default(), &run).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {} // fired before a restart
        Err(e) => return Err(Error::kube("create the WorkflowRun of a trigger")(e)),
    }
    Ok(Fire {
        scheduled_time,
        run: run_name,
        outcome: "Created".to_string(),
    })
}

/// Deletes the oldest runs of `trigger` beyond its history limit: only runs this
/// controller made for it. An owner reference anyone with `patch` can copy onto
/// someone else's run, so it is not proof; the managed-by label only the controller
/// may set (an admission policy), with the trigger's label and reference, is.
async fn prune(ctx: &Context, trigger: &Trigger, namespace: &str) -> Result<()> {
    let Some(uid) = trigger.meta().uid.clone() else {
        return Ok(());
    };
    let name = trigger.name_any();
    let label = naming::label_value(&name);
    let mut mine: Vec<Arc<WorkflowRun>> = ctx
        .stores
        .workflow_runs
        .state()
        .into_iter()
        .filter(|r| r.namespace().as_deref() == Some(namespace))
        .filter(|r| r.owner_references().iter().any(|o| o.uid == uid))
        .filter(|r| {
            let labels = r.labels();
            labels.get(labels::MANAGED_BY_KEY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
                && labels.get(labels::TRIGGER) == Some(&label)
                && r.spec.trigger_ref.as_deref() == Some(name.as_str())
        })
        .collect();
    mine.sort_by(|a, b| {
        b.spec
            .scheduled_time
            .cmp(&a.spec.scheduled_time)
            .then_with(|| b.name_any().cmp(&a.name_any()))
    });
    let keep = usize::try_from(trigger.spec.history_limit.max(1)).unwrap_or(usize::MAX);
    let api: Api<WorkflowRun> = Api::namespaced(ctx.client.clone(), namespace);
    for old in mine.iter().skip(keep) {
        ctx.metrics.write(WriteKind::WorkflowRun);
        match api.delete(&old.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(Error::kube("delete an old WorkflowRun")(e)),
        }
    }
    Ok(())
}

pub async fn reconcile(trigger: Arc<Trigger>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = trigger
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let visibility = visibility::converge(&ctx, trigger.as_ref()).await?;
    let previous = trigger.status.clone().unwrap_or_default();
    let mut next = TriggerStatus {
        observed_generation: trigger.meta().generation,
        conditions: Vec::new(),
        tier: Some(visibility.tier),
        creator: visibility.creator_name.clone(),
        shared_with: visibility.shared_with.clone(),
        last_fire_time: previous.last_fire_time.clone(),
        next_fire_time: None,
        recent_fires: previous.recent_fires.clone(),
    };
    let mut requeue = RESYNC;
    let (ready, reason, message) = match (&trigger.spec.type_, &trigger.spec.schedule) {
        (TriggerType::Schedule, _) if trigger.spec.suspend => (
            true,
            "Suspended".to_string(),
            "suspended: no new fires".to_string(),
        ),
        (TriggerType::Schedule, Some(sched)) => {
            match schedule::parse(&sched.cron, sched.time_zone.as_deref()) {
                Err(e) => (false, "InvalidSchedule".to_string(), e.to_string()),
                Ok((cron, zone)) => {
                    let now = jiff::Timestamp::now();
                    let handled_until = previous
                        .last_fire_time
                        .as_deref()
                        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                        .or_else(|| trigger.meta().creation_timestamp.as_ref().map(|t| t.0))
                        .unwrap_or(now);
                    let deadline = sched
                        .starting_deadline_seconds
                        .unwrap_or(DEFAULT_STARTING_DEADLINE_SECONDS);
                    let decision = schedule::decide(&cron, &zone, handled_until, deadline, now);
                    if let Some(at) = decision.fire {
                        let fired = fire(&ctx, &trigger, &namespace, at).await?;
                        next.last_fire_time = Some(at.to_string());
                        next.recent_fires.insert(0, fired);
                        let limit = usize::try_from(trigger.spec.history_limit.max(1))
                            .unwrap_or(usize::MAX);
                        next.recent_fires.truncate(limit);
                    }
                    next.next_fire_time = decision.next.map(|t| t.to_string());
                    if let Some(t) = decision.next {
                        let wait = t.duration_since(now).as_secs().max(0) as u64;
                        requeue = Duration::from_secs(wait + 1).min(RESYNC);
                    }
                    match next.recent_fires.first() {
                        Some(f) if f.outcome != "Created" => (
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
            }
        }
        (TriggerType::Schedule, None) => (
            false,
            "InvalidSchedule".to_string(),
            "spec.schedule is required".to_string(),
        ),
        _ => (
            true,
            "WaitingForExecutor".to_string(),
            "fired by an executor, as the trigger's creator".to_string(),
        ),
    };
    let stalled = reason == "InvalidSchedule";
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
    prune(&ctx, &trigger, &namespace).await?;
    let api = status_writes::namespaced_api(&ctx, trigger.as_ref())?;
    status_writes::write_if_changed(&ctx, &api, trigger.as_ref(), next, &now_rfc3339()).await?;
    Ok(Action::requeue(requeue))
}
