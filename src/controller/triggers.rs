//! The trigger controller: who may see each Trigger (shared like workflows), and
//! Schedule triggers firing on their cron schedule as their creator. Webhook and
//! AppEvent triggers are fired by an executor (see docs/triggers-and-runs.md); the controller only
//! keeps their visibility. This gathers the facts, creates and deletes runs and
//! writes the status; `planner::trigger` decides.

use std::sync::Arc;

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
use crate::planner::{Creator, stamped_creator};
use crate::resources::condition::now_rfc3339;
use crate::resources::{Fire, Trigger, TriggerStatus, WorkflowRun, WorkflowRunSpec};

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
async fn may_fire(
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

/// Creates the run of the fire at `at`, as `creator`; returns its name.
async fn create_run(
    ctx: &Context,
    trigger: &Trigger,
    namespace: &str,
    at: jiff::Timestamp,
    creator: Creator,
) -> Result<String> {
    let name = trigger.name_any();
    let run_name = trigger::run_name(&name, at);
    let Creator {
        user: creator,
        groups,
    } = creator;
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
    };
    let api: Api<WorkflowRun> = Api::namespaced(ctx.client.clone(), namespace);
    ctx.metrics.write(WriteKind::WorkflowRun);
    match api.create(&PostParams::default(), &run).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {} // fired before a restart
        Err(e) => return Err(Error::kube("create the WorkflowRun of a trigger")(e)),
    }
    Ok(run_name)
}

/// Fires at `at`: creates the run as the trigger's creator, or records why not.
async fn fire(
    ctx: &Context,
    trigger: &Trigger,
    namespace: &str,
    at: jiff::Timestamp,
) -> Result<Fire> {
    let outcome = match may_fire(ctx, trigger, namespace).await? {
        Ok(creator) => Ok(create_run(ctx, trigger, namespace, at, creator).await?),
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
    };
    let now = jiff::Timestamp::now();
    let created = trigger.meta().creation_timestamp.as_ref().map(|t| t.0);
    let tick = trigger::tick(
        &trigger.spec,
        previous.last_fire_time.as_deref(),
        created,
        now,
    );
    let fired = match tick.due() {
        Some(at) => Some(fire(&ctx, &trigger, &namespace, at).await?),
        None => None,
    };
    let (next, requeue) = trigger::conclude(next, &tick, fired, trigger.spec.history_limit, now);
    prune(&ctx, &trigger, &namespace).await?;
    let api = status_writes::namespaced_api(&ctx, trigger.as_ref())?;
    status_writes::write_if_changed(&ctx, &api, trigger.as_ref(), next, &now_rfc3339()).await?;
    Ok(Action::requeue(requeue))
}
