//! Grant notifications: one events.k8s.io Event per new grant, on the recipient's
//! SharedWorkflow. The Event name is derived from the grant (the SharedWorkflow's
//! UID), so a retry after a crash is refused by the API server as a duplicate
//! instead of notifying twice.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};

use crate::error::{Error, Result};
use crate::labels;
use crate::naming;
use crate::planner::{Directory, WorkflowKey};
use crate::resources::{GROUP, VERSION};

use super::Context;

pub struct Grant<'a> {
    pub key: &'a WorkflowKey,
    pub workspace: &'a str,
    pub shared_workflow: &'a str,
    pub shared_workflow_uid: &'a str,
    pub shared_by: Option<&'a str>,
}

fn describe_managers(directory: &Directory, workspace: &str) -> String {
    let managers: Vec<String> = directory
        .managers_of(workspace)
        .into_iter()
        .map(|m| format!("{} {}", m.kind, m.name))
        .collect();
    if managers.is_empty() {
        "no owners or managers are bound yet".to_string()
    } else {
        format!("for its owners and managers: {}", managers.join(", "))
    }
}

/// Sends the notification for one new grant. Already sent (same name) counts as sent.
pub async fn new_grant(ctx: &Context, directory: &Directory, grant: &Grant<'_>) -> Result<()> {
    let who = grant.shared_by.unwrap_or("an unknown user");
    let mut note = format!(
        "Workflow {} from workspace {} was shared with workspace {} by {}; {}.",
        grant.key.name,
        grant.key.namespace,
        grant.workspace,
        who,
        describe_managers(directory, grant.workspace)
    );
    note.truncate(1000);
    let event = Event {
        metadata: kube::api::ObjectMeta {
            name: Some(naming::notification_event_name(
                grant.shared_workflow,
                grant.shared_workflow_uid,
            )),
            namespace: Some(grant.workspace.to_string()),
            labels: Some(
                [(
                    labels::MANAGED_BY_KEY.to_string(),
                    labels::MANAGED_BY_VALUE.to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        event_time: Some(MicroTime(jiff::Timestamp::now())),
        reporting_controller: Some(labels::REPORTING_CONTROLLER.to_string()),
        reporting_instance: Some(ctx.instance.clone()),
        action: Some("Share".to_string()),
        reason: Some("WorkflowShared".to_string()),
        type_: Some("Normal".to_string()),
        note: Some(note),
        regarding: Some(ObjectReference {
            api_version: Some(format!("{GROUP}/{VERSION}")),
            kind: Some("SharedWorkflow".to_string()),
            name: Some(grant.shared_workflow.to_string()),
            namespace: Some(grant.workspace.to_string()),
            uid: Some(grant.shared_workflow_uid.to_string()),
            ..Default::default()
        }),
        related: Some(ObjectReference {
            api_version: Some(format!("{GROUP}/{VERSION}")),
            kind: Some("Workflow".to_string()),
            name: Some(grant.key.name.clone()),
            namespace: Some(grant.key.namespace.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), grant.workspace);
    ctx.metrics.write("Event");
    match api.create(&PostParams::default(), &event).await {
        Ok(_) => {
            ctx.metrics.notifications.inc();
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(Error::kube("create notification Event")(e)),
    }
}
