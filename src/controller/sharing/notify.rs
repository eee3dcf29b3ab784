//! Grant notifications: one events.k8s.io Event per new grant, on the recipient's
//! SharedWorkflow. The Event name is derived from the grant (the SharedWorkflow's
//! UID), so a retry after a crash is refused by the API server as a duplicate
//! instead of notifying twice.

use k8s_openapi::api::core::v1::ObjectReference;

use crate::error::{Error, Result};
use crate::naming;
use crate::planner::{Directory, WorkflowKey};
use crate::resources::{GROUP, VERSION};
use crate::text;

use crate::controller::Context;
use crate::runtime::events::{self, NOTE_MAX_BYTES, Notice};

/// Longest sharer name quoted in a notification; user names have no length limit.
const SHARED_BY_MAX_BYTES: usize = 256;

pub struct Grant<'a> {
    pub key: &'a WorkflowKey,
    pub workspace: &'a str,
    pub shared_workflow: &'a str,
    pub shared_workflow_uid: &'a str,
    pub shared_by: Option<&'a str>,
}

/// The notification text: who shared what with which workspace, and whom it is for.
/// Within the Event note limit however many managers there are and however long
/// their names: managers that do not fit are counted ("and 3 more").
pub fn note(directory: &Directory, grant: &Grant<'_>) -> String {
    let who = text::ellipsize(
        grant.shared_by.unwrap_or("an unknown user"),
        SHARED_BY_MAX_BYTES,
    );
    let head = format!(
        "Workflow {} from workspace {} was shared with workspace {} by {who}; ",
        grant.key.name, grant.key.namespace, grant.workspace,
    );
    let managers: Vec<String> = directory
        .managers_of(grant.workspace)
        .into_iter()
        .map(|m| format!("{} {}", m.kind, m.name))
        .collect();
    let tail = if managers.is_empty() {
        "no owners or managers are bound yet.".to_string()
    } else {
        const INTRO: &str = "for its owners and managers: ";
        let room = NOTE_MAX_BYTES.saturating_sub(head.len() + INTRO.len() + 1);
        format!("{INTRO}{}.", text::join_within(&managers, room))
    };
    text::ellipsize(&format!("{head}{tail}"), NOTE_MAX_BYTES)
}

/// Sends the notification for one new grant. Already sent (same name) counts as sent.
pub async fn new_grant(ctx: &Context, directory: &Directory, grant: Grant<'_>) -> Result<()> {
    let grant = &grant;
    let event = events::build(
        ctx,
        Notice {
            name: naming::notification_event_name(grant.shared_workflow, grant.shared_workflow_uid),
            namespace: grant.workspace.to_string(),
            type_: "Normal",
            action: "Share",
            reason: "WorkflowShared",
            note: note(directory, grant),
            regarding: ObjectReference {
                api_version: Some(format!("{GROUP}/{VERSION}")),
                kind: Some("SharedWorkflow".to_string()),
                name: Some(grant.shared_workflow.to_string()),
                namespace: Some(grant.workspace.to_string()),
                uid: Some(grant.shared_workflow_uid.to_string()),
                ..Default::default()
            },
            related: Some(ObjectReference {
                api_version: Some(format!("{GROUP}/{VERSION}")),
                kind: Some("Workflow".to_string()),
                name: Some(grant.key.name.clone()),
                namespace: Some(grant.key.namespace.clone()),
                ..Default::default()
            }),
        },
    );
    if events::create_once(ctx, &event)
        .await
        .map_err(Error::kube("create notification Event"))?
    {
        ctx.metrics.notifications.inc();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding, RoleRef, Subject};
    use kube::api::ObjectMeta;

    use super::*;

    fn directory_with_managers(workspace: &str, managers: &[String]) -> Directory {
        let role = ClusterRole {
            metadata: ObjectMeta {
                name: Some("workflow-share-manager".into()),
                labels: Some([(crate::labels::WORKSPACE_ROLE.into(), "manager".into())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let binding = RoleBinding {
            metadata: ObjectMeta {
                name: Some("managers".into()),
                namespace: Some(workspace.into()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: "workflow-share-manager".into(),
            },
            subjects: Some(
                managers
                    .iter()
                    .map(|m| Subject {
                        kind: "User".into(),
                        name: m.clone(),
                        ..Default::default()
                    })
                    .collect(),
            ),
        };
        Directory::build([], [], [&role], [&binding])
    }

    /// Long manager names in 2-, 3- and 4-byte UTF-8 used to cut the note inside a
    /// character (a panic that stopped the controller).
    #[test]
    fn notes_with_many_long_non_ascii_names_fit_the_event_limit() {
        for base in ["Zoë Ångström", "山田太郎", "𝓐𝓵𝓲𝓬𝓮🙂"] {
            for count in [1, 3, 7, 40] {
                let managers: Vec<String> = (0..count)
                    .map(|i| format!("{}-{i}", base.repeat(20)))
                    .collect();
                let directory = directory_with_managers("support", &managers);
                let key = WorkflowKey {
                    namespace: "sales".into(),
                    name: "lead-qualification".into(),
                };
                let sharer = base.repeat(200);
                let grant = Grant {
                    key: &key,
                    workspace: "support",
                    shared_workflow: "sales.lead-qualification",
                    shared_workflow_uid: "uid",
                    shared_by: Some(&sharer),
                };
                let note = note(&directory, &grant);
                assert!(note.len() <= NOTE_MAX_BYTES, "{} bytes", note.len());
                assert!(note.starts_with("Workflow lead-qualification from workspace sales"));
                assert!(note.contains(base), "names the sharer and managers: {note}");
                if count == 40 {
                    assert!(
                        note.contains(" more."),
                        "says how many are left out: {note}"
                    );
                }
            }
        }
    }
}
