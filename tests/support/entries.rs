//! What the recipients' library entries say: whether their grants were notified.

use kube::Client;
use kube::api::Api;

/// Whether the grants of workflow `namespace/workflow` to `workspaces` are recorded
/// as notified: each has its library entry, and the workflow's
/// `status.notifiedThrough` is at or after the entry's granted-at stamp.
pub async fn notifications_recorded(
    client: &Client,
    namespace: &str,
    workflow: &str,
    workspaces: &[&str],
) -> bool {
    use workflow_share::resources::{SharedWorkflow, Workflow};
    let workflows: Api<Workflow> = Api::namespaced(client.clone(), namespace);
    let through = workflows
        .get_opt(workflow)
        .await
        .ok()
        .flatten()
        .and_then(|w| w.status?.notified_through)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let Some(through) = through else {
        return false;
    };
    let name = workflow_share::naming::shared_workflow_name(namespace, workflow);
    for ws in workspaces {
        let entries: Api<SharedWorkflow> = Api::namespaced(client.clone(), ws);
        let stamp = entries
            .get_opt(&name)
            .await
            .ok()
            .flatten()
            .and_then(|e| {
                e.metadata
                    .annotations?
                    .remove(workflow_share::labels::GRANTED_AT)
            })
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        if stamp.is_none_or(|stamp| stamp > through) {
            return false;
        }
    }
    true
}
