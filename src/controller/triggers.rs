//! The trigger controller: who may see each Trigger (shared like workflows), and
//! Schedule triggers firing on their cron schedule as their creator. Webhook and
//! AppEvent triggers are fired by signed requests to the receiver (`webhooks`);
//! here they get their path and Ready. This gathers the facts, creates and deletes
//! runs and writes the status; `planner::trigger` and `planner::webhook` decide.

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
use crate::planner::trigger;
use crate::planner::webhook;
use crate::planner::{Creator, stamped_creator};
use crate::resources::condition::now_rfc3339;
use crate::resources::{Fire, Trigger, TriggerStatus, TriggerType, WorkflowRun, WorkflowRunSpec};
use crate::text;

use super::{runs, visibility};
use crate::controller::Context;
use crate::controller::sharing::authorize;
use crate::runtime::controllers::Loops;
use crate::runtime::status_writes;

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

/// Who a fire at this time would run as, or why it may not fire: judged in order,
/// each answer asked only while the earlier ones allow it.
pub(super) async fn may_fire(
    ctx: &Context,
    trigger: &Trigger,
    namespace: &str,
) -> Result<Result<Creator, &'static str>> {
    let creator = match trigger::check_creator(stamped_creator(trigger.meta())) {
        Ok(creator) => creator,
        Err(reason) => return Ok(Err(reason)),
    };
    let Creator { user, groups } = &creator;
    let yes = authorize::may_now(
        ctx,
        "create",
        "workflowruns",
        namespace,
        "",
        user,
        groups.clone(),
    )
    .await?;
    if let Err(reason) = trigger::check_creator_may_run(yes) {
        return Ok(Err(reason));
    }
    let workflow = &trigger.spec.workflow_ref;
    if let Err(refusal) = runs::availability(ctx, namespace, workflow, user, groups.clone()).await?
    {
        return Ok(Err(refusal.reason));
    }
    Ok(Ok(creator))
}

/// How a fire's run is named.
pub(super) enum RunName {
    /// The same for every attempt of one fire: a second is refused by the API server.
    Fixed(String),
    /// Named by the API server after the trigger: every request its own run.
    Generated,
}

/// What creating a fire's run came to.
pub(super) enum Created {
    /// The run was created, with this name.
    New(String),
    /// A run of this (fixed) name exists already.
    Existed(String),
}

/// The run of a fire at `at` as `creator`, named `run_name`: labelled and owned as
/// the trigger's, so that only its own runs are pruned.
fn run_of(
    trigger: &Trigger,
    namespace: &str,
    at: jiff::Timestamp,
    creator: Creator,
    run_name: &RunName,
) -> WorkflowRun {
    let name = trigger.name_any();
    let Creator {
        user: creator,
        groups,
    } = creator;
    let (fixed, generated) = match run_name {
        RunName::Fixed(n) => (Some(n.clone()), None),
        RunName::Generated => (None, Some(format!("{}-", text::prefix_within(&name, 200)))),
    };
    WorkflowRun {
        metadata: ObjectMeta {
            name: fixed,
            generate_name: generated,
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
            owner_references: crate::controller::sharing::generated::deleted_with(trigger)
                .map(|o| vec![o]),
            ..Default::default()
        },
        spec: WorkflowRunSpec {
            workflow_ref: trigger.spec.workflow_ref.clone(),
            run_as: creator,
            trigger_ref: Some(name),
            scheduled_time: Some(at.to_string()),
        },
        status: None,
    }
}

/// Creates the run of the fire at `at`, as `creator`.
pub(super) async fn create_run(
    ctx: &Context,
    trigger: &Trigger,
    namespace: &str,
    at: jiff::Timestamp,
    creator: Creator,
    run_name: RunName,
) -> Result<Created> {
    let run = run_of(trigger, namespace, at, creator, &run_name);
    let api: Api<WorkflowRun> = Api::namespaced(ctx.client.clone(), namespace);
    ctx.metrics.write(WriteKind::WorkflowRun);
    match api.create(&PostParams::default(), &run).await {
        Ok(created) => Ok(Created::New(created.name_any())),
        Err(kube::Error::Api(s)) if s.code == 409 => match run_name {
            RunName::Fixed(name) => Ok(Created::Existed(name)),
            RunName::Generated => Err(Error::kube("create the WorkflowRun of a trigger")(
                kube::Error::Api(s),
            )),
        },
        Err(e) => Err(Error::kube("create the WorkflowRun of a trigger")(e)),
    }
}

/// Fires at `at`: creates the run as the trigger's creator, or records why not.
async fn fire(
    ctx: &Context,
    trigger: &Trigger,
    namespace: &str,
    at: jiff::Timestamp,
) -> Result<Fire> {
    let outcome = match may_fire(ctx, trigger, namespace).await? {
        Ok(creator) => {
            // The same name for every attempt: a fire retried after a restart finds its run.
            let name = RunName::Fixed(trigger::run_name(&trigger.name_any(), at));
            match create_run(ctx, trigger, namespace, at, creator, name).await? {
                Created::New(run) | Created::Existed(run) => Ok(run),
            }
        }
        Err(reason) => Err(reason),
    };
    Ok(trigger::fire_record(at, outcome))
}

/// Deletes the oldest runs of `trigger` beyond its history limit (see
/// `planner::trigger::runs_to_prune` for which are its own).
async fn prune(ctx: &Context, trigger: &Trigger, namespace: &str) -> Result<()> {
    let Some(uid) = trigger.meta().uid.as_deref() else {
        return Ok(());
    };
    let name = trigger.name_any();
    let owner = trigger::Owner {
        namespace,
        name: &name,
        uid,
    };
    let runs = ctx.stores.workflow_runs.state();
    let old = trigger::runs_to_prune(
        owner,
        trigger.spec.history_limit,
        runs.iter().map(|r| r.as_ref()),
    );
    let api: Api<WorkflowRun> = Api::namespaced(ctx.client.clone(), namespace);
    for old in old {
        ctx.metrics.write(WriteKind::WorkflowRun);
        match api.delete(&old, &DeleteParams::default()).await {
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
    let next = TriggerStatus {
        observed_generation: trigger.meta().generation,
        conditions: Vec::new(),
        tier: Some(visibility.tier),
        creator: visibility.creator_name.clone(),
        shared_with: visibility.shared_with.clone(),
        last_fire_time: previous.last_fire_time.clone(),
        next_fire_time: None,
        recent_fires: previous.recent_fires.clone(),
        webhook_path: None,
        last_delivery: previous.last_delivery.clone(),
    };
    let now = jiff::Timestamp::now();
    let created = trigger.meta().creation_timestamp.as_ref().map(|t| t.0);
    let (tick, next) = match trigger.spec.type_ {
        TriggerType::Schedule => {
            let last = previous.last_fire_time.as_deref();
            (trigger::tick(&trigger.spec, last, created, now), next)
        }
        TriggerType::Webhook | TriggerType::AppEvent => {
            let path = trigger.meta().uid.as_deref().map(webhook::path_of);
            // Listening means a request is answered: not before this replica's
            // receiver finds the trigger by its path (a moment, under load).
            if path
                .as_deref()
                .is_some_and(|p| !super::webhooks::answers_at(&ctx.stores, p))
            {
                return Ok(Action::requeue(Duration::from_millis(200)));
            }
            let token = super::webhooks::token_state(&ctx, trigger.as_ref());
            let tick = webhook::tick(&trigger.spec, token, previous.recent_fires.first());
            (
                tick,
                TriggerStatus {
                    webhook_path: path,
                    ..next
                },
            )
        }
    };
    let fired = match tick.due() {
        Some(at) => Some(fire(&ctx, &trigger, &namespace, at).await?),
        None => None,
    };
    let (next, requeue) = trigger::conclude(next, &tick, fired, trigger.spec.history_limit, now);
    prune(&ctx, &trigger, &namespace).await?;
    // The receiver writes deliveries into this status on any replica: written only
    // over the status this pass read, or the pass runs again.
    match status_writes::write_if_unchanged(&ctx, trigger.as_ref(), next, &now_rfc3339()).await {
        Err(e) if e.metric_label() == "Conflict" => Ok(Action::requeue(Duration::from_secs(1))),
        Err(e) => Err(e),
        Ok(()) => Ok(Action::requeue(requeue)),
    }
}
