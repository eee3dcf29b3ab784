//! WorkflowRuns: accepted while the workflow is available in the run's workspace,
//! rejected with a reason otherwise, and accounted to that workspace (the
//! recipient's, never the owner's). Executing them is an executor's job.

use std::sync::Arc;
use std::time::Duration;

use kube::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::error::{Error, Result};
use crate::resources::condition::{ConditionType, now_rfc3339};
use crate::resources::{
    Accounting, Condition, RunPhase, RunnableKind, RunnableRef, WorkflowRun, WorkflowRunStatus,
};

use crate::planner::stamped_creator;

use crate::controller::Context;
use crate::controller::sharing::{authorize, grants};
use crate::runtime::controllers::Loops;
use crate::runtime::status_writes;

/// Why a workflow cannot run here (a CamelCase reason and a sentence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

fn refuse(reason: &'static str, message: String) -> Refusal {
    Refusal { reason, message }
}

/// Whether `user` (with `groups`) may run `workflow` in `namespace` now: a Workflow
/// of the workspace they may read and that is not archived, or a SharedWorkflow
/// that is here (granted, not suspended) and enabled.
pub async fn availability(
    ctx: &Context,
    namespace: &str,
    workflow: &RunnableRef,
    user: &str,
    groups: Vec<String>,
) -> Result<Result<(), Refusal>> {
    let name = &workflow.name;
    match workflow.kind {
        RunnableKind::Workflow => {
            let Some(wf) = ctx
                .stores
                .workflows
                .get(&ObjectRef::new(name).within(namespace))
            else {
                return Ok(Err(refuse(
                    "WorkflowNotFound",
                    format!("no Workflow {name} in {namespace}"),
                )));
            };
            if wf.spec.archived {
                return Ok(Err(refuse(
                    "WorkflowArchived",
                    format!("workflow {name} is archived"),
                )));
            }
            // A private workflow of someone else is not theirs to run.
            if !authorize::may_now(ctx, "get", "workflows", namespace, name, user, groups).await? {
                return Ok(Err(refuse(
                    "WorkflowNotVisible",
                    format!("{user} may not see workflow {name}"),
                )));
            }
        }
        RunnableKind::SharedWorkflow => {
            // An entry being deleted is gone, whatever holds it back.
            let Some(entry) = ctx
                .stores
                .shared_workflows
                .get(&ObjectRef::new(name).within(namespace))
                .filter(|e| e.managed && e.metadata.deletion_timestamp.is_none())
            else {
                return Ok(Err(refuse(
                    "SharedWorkflowNotFound",
                    format!(
                        "no SharedWorkflow {name} in {namespace}: it was never shared here, was revoked, or is suspended (archived or not de-identified)"
                    ),
                )));
            };
            if entry.enabled != Some(true) {
                return Ok(Err(refuse(
                    "NotEnabled",
                    format!("SharedWorkflow {name} is not enabled in {namespace}"),
                )));
            }
            if grants::current_access(ctx, &entry.source, namespace)
                .await?
                .is_none()
            {
                let source = &entry.source;
                return Ok(Err(refuse(
                    "NotGranted",
                    format!(
                        "workflow {}/{} is not shared with {namespace} any more (revoked, archived or not de-identified)",
                        source.namespace, source.name
                    ),
                )));
            }
        }
    }
    Ok(Ok(()))
}

/// Runs still Pending this long after creation are judged on what the caches show;
/// before that, a missing workflow may just not have reached the cache yet.
const GRACE: Duration = Duration::from_secs(5);

/// Starts the run controller, which watches runs of its own.
pub fn start(loops: &mut Loops, ctx: &Arc<Context>, client: &kube::Client) {
    let controller = Controller::new(
        Api::<WorkflowRun>::all(client.clone()),
        watcher::Config::default(),
    );
    loops.spawn("run", controller, ctx, reconcile);
}

pub async fn reconcile(run: Arc<WorkflowRun>, ctx: Arc<Context>) -> Result<Action, Error> {
    if run
        .status
        .as_ref()
        .is_some_and(|s| s.phase != RunPhase::Pending)
    {
        return Ok(Action::await_change()); // decided; an executor takes it from here
    }
    let namespace = run
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let (user, groups) = match stamped_creator(run.meta()) {
        Some(creator) if run.spec.run_as.is_empty() || run.spec.run_as == creator.user => {
            (creator.user, creator.groups)
        }
        // A trigger's run: the controller set runAs to the trigger's creator and
        // copied their groups into the stamp.
        Some(creator) => (run.spec.run_as.clone(), creator.groups),
        None => (run.spec.run_as.clone(), Vec::new()),
    };
    let decision = if user.is_empty() {
        Err(refuse(
            "RunAsMissing",
            "the run has no runAs: create runs through the API server, which stamps it".into(),
        ))
    } else {
        availability(&ctx, &namespace, &run.spec.workflow_ref, &user, groups).await?
    };
    let young = run.meta().creation_timestamp.as_ref().is_some_and(|t| {
        jiff::Timestamp::now().duration_since(t.0).as_secs() < GRACE.as_secs() as i64
    });
    if decision.is_err() && young {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let organization = ctx
        .stores
        .directory()
        .organization_of(&namespace)
        .unwrap_or_default()
        .to_string();
    let (phase, reason, message, ready) = match decision {
        Ok(()) => (
            RunPhase::Accepted,
            "Accepted".to_string(),
            format!("runs as {user}; usage accounted to workspace {namespace}"),
            true,
        ),
        Err(r) => (RunPhase::Rejected, r.reason.to_string(), r.message, false),
    };
    let next = WorkflowRunStatus {
        observed_generation: run.meta().generation,
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
            workspace: namespace.clone(),
            organization,
        }),
    };
    let api = status_writes::namespaced_api(&ctx, run.as_ref())?;
    status_writes::write_if_changed(&ctx, &api, run.as_ref(), next, &now_rfc3339()).await?;
    Ok(Action::await_change())
}
