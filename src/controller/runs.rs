//! WorkflowRuns: accepted while the workflow is available in the run's workspace,
//! rejected with a reason otherwise, and accounted to that workspace (the
//! recipient's, never the owner's). Executing them is an executor's job. This
//! gathers the facts and writes the status; `planner::runs` judges them.

use std::sync::Arc;

use kube::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::error::{Error, Result};
use crate::planner::runs::{self, EntryFacts, Question, Refusal, Request, Seen};
use crate::planner::stamped_creator;
use crate::resources::condition::now_rfc3339;
use crate::resources::{RunnableKind, RunnableRef, SharedWorkflow, Workflow, WorkflowRun};

use crate::controller::Context;
use crate::controller::sharing::entry_cache::Entry;
use crate::controller::sharing::{authorize, grants};
use crate::runtime::controllers::Loops;
use crate::runtime::status_writes;

/// A cached library entry, as the planner judges it.
pub(super) fn entry_facts(entry: &Entry) -> EntryFacts<'_> {
    EntryFacts {
        managed: entry.managed,
        deleting: entry.deleting,
        enabled: entry.enabled,
        suspended: entry.suspended,
        source: &entry.source,
    }
}

/// Whether `user` (with `groups`) may run `workflow` in `namespace` now: what the
/// caches show first, then the one access question they leave open (see
/// `planner::runs::check_cached`).
pub async fn availability(
    ctx: &Context,
    namespace: &str,
    workflow: &RunnableRef,
    user: &str,
    groups: Vec<String>,
) -> Result<Result<(), Refusal>> {
    let name = &workflow.name;
    let request = Request {
        namespace,
        workflow: name,
        user,
    };
    // A miss may be the cache a moment behind a workflow just applied (a webhook can
    // fire as soon as its trigger listens): the API server is asked before a refusal.
    // What the caches do show is checked against the API server below anyway.
    let (cached_workflow, cached_entry);
    let seen = match workflow.kind {
        RunnableKind::Workflow => {
            let key = ObjectRef::new(name).within(namespace);
            cached_workflow = match ctx.stores.workflows.get(&key) {
                Some(cached) => Some(cached),
                None => Api::<Workflow>::namespaced(ctx.client.clone(), namespace)
                    .get_opt(name)
                    .await
                    .map_err(Error::kube("get workflow"))?
                    .map(Arc::new),
            };
            Seen::Workflow(cached_workflow.as_deref())
        }
        RunnableKind::SharedWorkflow => {
            cached_entry = match ctx.stores.entries.get(namespace, name) {
                Some(cached) => Some(cached),
                None => Api::<SharedWorkflow>::namespaced(ctx.client.clone(), namespace)
                    .get_opt(name)
                    .await
                    .map_err(Error::kube("get shared workflow"))?
                    .map(|sw| Arc::new(Entry::of(sw))),
            };
            Seen::SharedWorkflow(cached_entry.as_deref().map(entry_facts))
        }
    };
    let question = match runs::check_cached(&request, seen) {
        Ok(question) => question,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let yes = match question {
        Question::MayGetWorkflow => {
            authorize::may_now(ctx, "get", "workflows", namespace, name, user, groups).await?
        }
        Question::StillShared(source) => grants::current_access(ctx, source, namespace)
            .await?
            .is_some(),
    };
    Ok(runs::check_answer(&request, &question, yes))
}

/// Starts the run controller, which watches runs of its own.
pub fn start(loops: &mut Loops, ctx: &Arc<Context>, client: &kube::Client) {
    let controller = Controller::new(
        Api::<WorkflowRun>::all(client.clone()),
        watcher::Config::default(),
    );
    loops.spawn("run", controller, ctx, reconcile);
}

pub async fn reconcile(run: Arc<WorkflowRun>, ctx: Arc<Context>) -> Result<Action, Error> {
    if runs::decided(run.status.as_ref()) {
        return Ok(Action::await_change()); // an executor takes it from here
    }
    let namespace = run
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let runner = runs::runner(stamped_creator(run.meta()), &run.spec.run_as);
    let decision = match &runner {
        Ok(runner) => {
            let groups = runner.groups.clone();
            let workflow = &run.spec.workflow_ref;
            availability(&ctx, &namespace, workflow, &runner.user, groups).await?
        }
        Err(refusal) => Err(refusal.clone()),
    };
    let created = run.meta().creation_timestamp.as_ref().map(|t| t.0);
    if let Some(wait) = runs::retry_young(&decision, created, jiff::Timestamp::now()) {
        return Ok(Action::requeue(wait));
    }
    let organization = ctx
        .stores
        .directory()
        .organization_of(&namespace)
        .unwrap_or_default()
        .to_string();
    let user = runner.map(|r| r.user).unwrap_or_default();
    let request = Request {
        namespace: &namespace,
        workflow: &run.spec.workflow_ref.name,
        user: &user,
    };
    let next = runs::status(decision, &request, &organization, run.meta().generation);
    let api = status_writes::namespaced_api(&ctx, run.as_ref())?;
    status_writes::write_if_changed(&ctx, &api, run.as_ref(), next, &now_rfc3339()).await?;
    Ok(Action::await_change())
}
