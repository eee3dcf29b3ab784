//! Label, annotation and name conventions shared by the controller, the planner and the chart.

/// The one server-side-apply field manager the controller writes with
/// (use it in Argo CD `ignoreDifferences.managedFieldsManagers`).
pub const FIELD_MANAGER: &str = "workflow-share";
/// `reportingController` of Events.
pub const REPORTING_CONTROLLER: &str = "sharing.workflows.dev/workflow-share";

pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "workflow-share";
/// On a Namespace: the Organization it is a workspace of.
pub const ORGANIZATION: &str = "sharing.workflows.dev/organization";
/// On a ClusterRole: which workspace role it stands for (owner, manager, member).
pub const WORKSPACE_ROLE: &str = "sharing.workflows.dev/workspace-role";
/// On generated objects: the owner workspace of the source workflow.
pub const SOURCE_NAMESPACE: &str = "sharing.workflows.dev/source-namespace";
/// On generated objects: the source workflow name (hashed when not a valid label value).
pub const SOURCE_WORKFLOW: &str = "sharing.workflows.dev/source-workflow";
/// Stamped by admission from `request.userInfo.username` on create.
pub const CREATED_BY: &str = "sharing.workflows.dev/created-by";
/// Stamped by admission beside it: the creator's groups, one per line.
pub const CREATED_BY_GROUPS: &str = "sharing.workflows.dev/created-by-groups";
/// Holds a WorkflowShare until its grants are removed.
pub const FINALIZER: &str = "sharing.workflows.dev/grants";
/// On a Workflow made by a WorkflowClone: `namespace/name` of the source workflow.
pub const CLONED_FROM: &str = "sharing.workflows.dev/cloned-from";
/// On a Workflow made by a WorkflowClone: the WorkflowClone that made it.
pub const CLONED_BY_REQUEST: &str = "sharing.workflows.dev/clone-request";
/// On RoleBindings of organization roles: the Organization they are kept for.
pub const ORGANIZATION_GRANT: &str = "sharing.workflows.dev/organization-grant";
/// On generated RBAC of a Project or Trigger: the kind it serves (Workflow grants have none).
pub const SOURCE_KIND: &str = "sharing.workflows.dev/source-kind";
/// On generated RBAC of a Project or Trigger: its name (hashed when not a valid label value).
pub const SOURCE_NAME: &str = "sharing.workflows.dev/source-name";
/// On a SharedWorkflow: Active, or Suspended while its workflow is archived or not
/// de-identified (`kubectl get sharedworkflows -A -l sharing.workflows.dev/state=Active`).
pub const STATE: &str = "sharing.workflows.dev/state";
/// On a SharedWorkflow: when the grant began (RFC 3339, microseconds), stamped at
/// creation; compared with the workflow's `status.notifiedThrough`.
pub const GRANTED_AT: &str = "sharing.workflows.dev/granted-at";
/// On a WorkflowRun made by a Trigger: the trigger's name (hashed when too long).
pub const TRIGGER: &str = "sharing.workflows.dev/trigger";
