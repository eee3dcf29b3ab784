//! The project controller: who may see each Project (shared like workflows; a
//! project share gives read of the project object only).

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use kube::Resource;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use super::visibility;
use crate::controller::Context;
use crate::error::Error;
use crate::resources::condition::{ConditionType, now_rfc3339};
use crate::resources::{Condition, Project, VisibilityStatus};
use crate::runtime::controllers::Loops;
use crate::runtime::status_writes;

const RESYNC: Duration = Duration::from_secs(300);

/// Starts the project controller: woken by its own changes, by the shares naming a
/// project, and by any change of who is in which workspace.
pub fn start(
    loops: &mut Loops,
    ctx: &Arc<Context>,
    changes: BoxStream<'static, Result<Project, watcher::Error>>,
    named: BoxStream<'static, ObjectRef<Project>>,
    audience: BoxStream<'static, ()>,
) {
    let controller = Controller::for_stream(changes, ctx.stores.projects.clone())
        .reconcile_on(named)
        .reconcile_all_on(audience);
    loops.spawn("project", controller, ctx, reconcile);
}

/// Projects: only who may see them.
async fn reconcile(project: Arc<Project>, ctx: Arc<Context>) -> Result<Action, Error> {
    let visibility = visibility::converge(&ctx, project.as_ref()).await?;
    let next = VisibilityStatus {
        observed_generation: project.meta().generation,
        conditions: vec![Condition::new(ConditionType::Ready, true, "Reconciled", "")],
        tier: Some(visibility.tier),
        creator: visibility.creator_name,
        shared_with: visibility.shared_with,
    };
    let api = status_writes::namespaced_api(&ctx, project.as_ref())?;
    status_writes::write_if_changed(&ctx, &api, project.as_ref(), next, &now_rfc3339()).await?;
    Ok(Action::requeue(RESYNC))
}
