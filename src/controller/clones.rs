//! The clone controller: a WorkflowClone in a recipient workspace copies a shared workflow into an
//! editable Workflow of that workspace, once, recording where it came from and who
//! asked. This gathers the facts, makes the copy and writes the status;
//! `planner::clones` judges each fact as it is gathered.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::error::{Error, Result};
use crate::labels;
use crate::metrics::WriteKind;
use crate::planner::clones::{self, Refusal, Request, Target};
use crate::resources::condition::now_rfc3339;
use crate::resources::{Workflow, WorkflowClone, WorkflowSpec};

use super::runs::entry_facts;
use crate::controller::Context;
use crate::controller::sharing::grants;
use crate::runtime::controllers::Loops;
use crate::runtime::status_writes;

/// What ends an attempt early: a refusal (reported) or a failure (retried).
enum Stop {
    Refused(Refusal),
    Failed(Error),
}

impl From<Refusal> for Stop {
    fn from(refusal: Refusal) -> Self {
        Stop::Refused(refusal)
    }
}

impl From<Error> for Stop {
    fn from(error: Error) -> Self {
        Stop::Failed(error)
    }
}

fn creator<R: Resource>(obj: &R) -> Option<String> {
    obj.meta()
        .annotations
        .as_ref()?
        .get(labels::CREATED_BY)
        .cloned()
}

/// Makes the copy, or says why not. Returns `namespace/name` of the source.
async fn make_copy(ctx: &Context, clone: &WorkflowClone, ns: &str) -> Result<String, Stop> {
    let clone_name = clone.name_any();
    let request = Request {
        namespace: ns,
        entry: &clone.spec.shared_workflow_ref.name,
        target: &clone.spec.target_name,
        clone: &clone_name,
    };
    let entry = ctx.stores.entries.get(ns, request.entry);
    let source = clones::check_entry(&request, entry.as_deref().map(entry_facts))?;
    // Decided by the grant as it is now, checked right before the source is read.
    let access = grants::current_access(ctx, source, ns).await?;
    let original = ctx
        .stores
        .workflows
        .get(&ObjectRef::new(&source.name).within(&source.namespace));
    let original = clones::check_grant(&request, source, access, original.as_deref())?;
    let from = clones::from(source);

    let api: Api<Workflow> = Api::namespaced(ctx.client.clone(), ns);
    let existing = api
        .get_opt(request.target)
        .await
        .map_err(Error::kube("get clone target"))?;
    if clones::check_target(&request, existing.as_ref())? == Target::Ours {
        return Ok(from);
    }
    // The copy: the builder content and summary, never the training data reference.
    let spec = WorkflowSpec {
        training_data_ref: None,
        archived: false,
        project_ref: None,
        ..original.spec.clone()
    };
    let mut annotations = std::collections::BTreeMap::from([
        (labels::CLONED_FROM.to_string(), from.clone()),
        (labels::CLONED_BY_REQUEST.to_string(), clone_name.clone()),
    ]);
    if let Some(who) = creator(clone) {
        annotations.insert(labels::CREATED_BY.to_string(), who);
    }
    let mut copy = Workflow::new(request.target, spec);
    copy.metadata.namespace = Some(ns.to_string());
    copy.metadata.annotations = Some(annotations);
    copy.metadata.labels = Some(std::collections::BTreeMap::from([(
        labels::MANAGED_BY_KEY.to_string(),
        labels::MANAGED_BY_VALUE.to_string(),
    )]));
    ctx.metrics.write(WriteKind::Workflow);
    match api.create(&PostParams::default(), &copy).await {
        Ok(_) => Ok(from),
        Err(kube::Error::Api(s)) if s.code == 409 => Err(clones::target_appeared(&request).into()),
        Err(e) => Err(Error::kube("create cloned Workflow")(e).into()),
    }
}

/// Starts the clone controller: a clone waiting for its SharedWorkflow proceeds as
/// soon as the entry appears (`entries` gives the namespace and name of each
/// library entry that changed).
pub fn start(
    loops: &mut Loops,
    ctx: &Arc<Context>,
    client: &kube::Client,
    entries: BoxStream<'static, (String, String)>,
) {
    let controller = Controller::new(
        Api::<WorkflowClone>::all(client.clone()),
        watcher::Config::default(),
    );
    let clones = controller.store();
    let waiting = entries.flat_map(move |(ns, entry)| {
        let waiting: Vec<ObjectRef<WorkflowClone>> = clones
            .state()
            .iter()
            .filter(|c| {
                c.namespace().as_deref() == Some(ns.as_str())
                    && c.spec.shared_workflow_ref.name == entry
            })
            .map(|c| ObjectRef::from_obj(c.as_ref()))
            .collect();
        futures::stream::iter(waiting)
    });
    loops.spawn("clone", controller.reconcile_on(waiting), ctx, reconcile);
}

pub async fn reconcile(clone: Arc<WorkflowClone>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = clone
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    if clones::done(clone.status.as_ref()) {
        return Ok(Action::await_change()); // a clone happens once
    }
    let outcome = match make_copy(&ctx, &clone, &ns).await {
        Ok(from) => Ok(from),
        Err(Stop::Refused(refusal)) => Err(refusal),
        Err(Stop::Failed(error)) => return Err(error),
    };
    let (next, retry) = clones::status(
        &outcome,
        &clone.spec.target_name,
        clone.metadata.generation,
        creator(clone.as_ref()),
    );
    let api = status_writes::namespaced_api(&ctx, clone.as_ref())?;
    status_writes::write_if_changed(&ctx, &api, clone.as_ref(), next, &now_rfc3339()).await?;
    Ok(retry.map_or_else(Action::await_change, Action::requeue))
}
