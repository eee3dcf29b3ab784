//! R14: a WorkflowClone in a recipient workspace copies a shared workflow into an
//! editable Workflow of that workspace, once, recording where it came from and who asked.

use std::sync::Arc;
use std::time::Duration;

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
use crate::resources::condition::ConditionType;
use crate::resources::condition::now_rfc3339;
use crate::resources::{
    Access, Condition, Workflow, WorkflowClone, WorkflowCloneStatus, WorkflowSpec,
};

use crate::controller::Context;
use crate::controller::sharing::grants;
use crate::runtime::controllers::Loops;
use crate::runtime::status_writes;

/// Why a clone cannot be made (yet).
struct Refusal {
    reason: &'static str,
    message: String,
    /// A retry cannot fix it (kstatus Stalled).
    final_: bool,
}

fn refuse(reason: &'static str, final_: bool, message: String) -> Refusal {
    Refusal {
        reason,
        message,
        final_,
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
async fn make_copy(
    ctx: &Context,
    clone: &WorkflowClone,
    ns: &str,
) -> Result<Result<String, Refusal>> {
    let sw_name = &clone.spec.shared_workflow_ref.name;
    // An entry being deleted is gone, whatever holds it back.
    let Some(entry) = ctx
        .stores
        .shared_workflows
        .get(&ObjectRef::new(sw_name).within(ns))
        .filter(|e| e.metadata.deletion_timestamp.is_none())
    else {
        return Ok(Err(refuse(
            "SharedWorkflowNotFound",
            false,
            format!("no SharedWorkflow {sw_name} in {ns}"),
        )));
    };
    if !entry.managed {
        return Ok(Err(refuse(
            "NotShared",
            true,
            format!("{sw_name} was not shared by workflow-share"),
        )));
    }
    let source = &entry.source;
    let from = format!("{}/{}", source.namespace, source.name);
    // Decided by the grant as it is now, checked right before the source is read.
    match grants::current_access(ctx, source, ns).await? {
        None => {
            return Ok(Err(refuse(
                "NotGranted",
                false,
                format!("workflow {from} is not shared with {ns} (any more)"),
            )));
        }
        Some(Access::Run) => {
            return Ok(Err(refuse(
                "RunAccessOnly",
                true,
                "the workflow is shared with Run access: it can be run but not cloned".into(),
            )));
        }
        Some(Access::View) => {}
    }
    let Some(original) = ctx
        .stores
        .workflows
        .get(&ObjectRef::new(&source.name).within(&source.namespace))
        .filter(|w| w.metadata.uid.as_deref() == Some(source.uid.as_str()))
    else {
        return Ok(Err(refuse(
            "SourceNotFound",
            false,
            format!("workflow {from} does not exist"),
        )));
    };

    let api: Api<Workflow> = Api::namespaced(ctx.client.clone(), ns);
    let target = &clone.spec.target_name;
    // Annotations anyone can write; the managed-by label only the controller may set
    // (an admission policy). A target without both is someone else's.
    let ours = |w: &Workflow| {
        w.labels().get(labels::MANAGED_BY_KEY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
            && w.annotations().get(labels::CLONED_BY_REQUEST) == Some(&clone.name_any())
    };
    if let Some(existing) = api
        .get_opt(target)
        .await
        .map_err(Error::kube("get clone target"))?
    {
        return Ok(if ours(&existing) {
            Ok(from)
        } else {
            Err(refuse(
                "TargetExists",
                true,
                format!("a Workflow named {target} already exists in {ns}"),
            ))
        });
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
        (labels::CLONED_BY_REQUEST.to_string(), clone.name_any()),
    ]);
    if let Some(who) = creator(clone) {
        annotations.insert(labels::CREATED_BY.to_string(), who);
    }
    let mut copy = Workflow::new(target, spec);
    copy.metadata.namespace = Some(ns.to_string());
    copy.metadata.annotations = Some(annotations);
    copy.metadata.labels = Some(std::collections::BTreeMap::from([(
        labels::MANAGED_BY_KEY.to_string(),
        labels::MANAGED_BY_VALUE.to_string(),
    )]));
    ctx.metrics.write(WriteKind::Workflow);
    match api.create(&PostParams::default(), &copy).await {
        Ok(_) => Ok(Ok(from)),
        // Made meanwhile, by an earlier attempt or by someone else: judged next time.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Err(refuse(
            "TargetExists",
            false,
            format!("a Workflow named {target} appeared in {ns}; checking whose it is"),
        ))),
        Err(e) => Err(Error::kube("create cloned Workflow")(e)),
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
    let previous = clone.status.clone().unwrap_or_default();
    let done = previous
        .conditions
        .iter()
        .any(|c| (c.is(ConditionType::Ready) || c.is(ConditionType::Stalled)) && c.is_true());
    if done {
        return Ok(Action::await_change()); // a clone happens once
    }
    let outcome = make_copy(&ctx, &clone, &ns).await?;
    let (conditions, workflow, cloned_from, requeue) = match &outcome {
        Ok(from) => (
            vec![
                Condition::new(
                    ConditionType::Ready,
                    true,
                    "Cloned",
                    format!("copied {from} to {}", clone.spec.target_name),
                ),
                Condition::new(ConditionType::Stalled, false, "Cloned", ""),
            ],
            Some(clone.spec.target_name.clone()),
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
            (!r.final_).then(|| Duration::from_secs(10)),
        ),
    };
    let next = WorkflowCloneStatus {
        observed_generation: clone.metadata.generation,
        conditions,
        workflow,
        cloned_from,
        cloned_by: creator(clone.as_ref()),
    };
    status_writes::clone(&ctx, &clone, next, &now_rfc3339()).await?;
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}
