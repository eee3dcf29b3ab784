// Several printcolumn(...) entries repeat the same keys by design.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;

/// Declares who a workflow is shared with: explicit workspaces, the entire
/// organization, named people, or any combination. Several shares of one
/// workflow add up.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "sharing.workflows.dev",
    version = "v1alpha1",
    kind = "WorkflowShare",
    namespaced,
    status = "WorkflowShareStatus",
    shortname = "wfs",
    category = "workflow-sharing",
    doc = "Shares one workflow with workspaces of the same organization and with named people.",
    printcolumn(
        name = "Workflow",
        type_ = "string",
        json_path = ".spec.workflowRef.name"
    ),
    printcolumn(
        name = "Org-Wide",
        type_ = "boolean",
        json_path = ".spec.entireOrganization"
    ),
    printcolumn(
        name = "Active",
        type_ = "integer",
        json_path = ".status.activeGrants",
        description = "Workspaces currently granted by this share"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        priority = 1,
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    selectable = ".spec.workflowRef.name"
)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowShareSpec {
    /// The shared workflow, in the same namespace as this share.
    pub workflow_ref: WorkflowRef,
    /// Workspaces (namespaces of the same organization) that receive the workflow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 1000),
        inner(
            length(min = 1, max = 63),
            regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
        )
    )]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub workspaces: Vec<String>,
    /// Share with every workspace of the owner's organization, including
    /// workspaces that join later. Independent of `workspaces`.
    #[serde(default)]
    pub entire_organization: bool,
    /// Named people who receive read access to the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people: Option<People>,
    /// View (default): recipients read the definition and run it.
    /// Run: recipients can run it but not read the definition or clone it.
    #[serde(default)]
    pub access: Access,
}

/// Reference to a Workflow in the share's own namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.__namespace__)").message("workflowRef.namespace is not allowed: a share can only reference a workflow in its own namespace").field_path(".namespace").reason(kube::core::Reason::FieldValueForbidden))]
#[x_kube(validation = Rule::new("self.name == oldSelf.name").message("workflowRef.name is immutable: delete the share and create a new one").field_path(".name"))]
pub struct WorkflowRef {
    /// Name of the Workflow.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
    /// Not allowed; present only so that setting it is refused instead of silently dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// CEL: every group is outside `system:`, or one namespace's ServiceAccounts.
pub const SCOPED_GROUPS: &str = "self.all(g, !g.startsWith('system:') || g.matches('^system:serviceaccounts:[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))";

/// Named people who receive the workflow.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct People {
    /// User names as the authenticator reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000), inner(length(min = 1, max = 256)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub users: Vec<String>,
    /// Group names as the authenticator reports them. Groups that span the cluster
    /// (`system:authenticated`, `system:masters`, …) are refused; a workspace's own
    /// `system:serviceaccounts:<namespace>` is allowed (granted while that workspace is
    /// in the organization).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000), inner(length(min = 1, max = 256)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    #[x_kube(validation = Rule::new(SCOPED_GROUPS).message("a system: group spans the cluster, beyond any organization: name people, or a workspace's system:serviceaccounts:<namespace>").reason(kube::core::Reason::FieldValueForbidden))]
    pub groups: Vec<String>,
}

/// What recipients may do with a shared workflow.
#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
)]
pub enum Access {
    /// Run it and read its definition.
    #[default]
    View,
    /// Run it only.
    Run,
}

/// Observed state of a share.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowShareStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled conditions (kstatus).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Number of workspaces this share currently grants.
    #[serde(default)]
    pub active_grants: i32,
    /// How many recipient workspaces are in each state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_counts: Option<GrantCounts>,
    /// The recipient workspaces: every one while the share has at most 50, otherwise
    /// only those not Active (Rejected, Pending, Suspended), at most 50; the active
    /// ones are the SharedWorkflows labelled with the workflow's source labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Atomic)]
    pub grants: Vec<WorkspaceGrant>,
    /// Recipient workspaces not listed in `grants`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unlisted_grants: i32,
    /// How many named people (users and groups) are in each state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people_counts: Option<GrantCounts>,
    /// The named people (user or group) of `spec.people`, listed like `grants`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Atomic)]
    pub people: Vec<PersonGrant>,
    /// Named people not listed in `people`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unlisted_people: i32,
    /// Who created the share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_by: Option<String>,
    /// The object this share grants now (while none of its name exists, the one it
    /// granted last). Shares name objects, not their UIDs: when an object is deleted and
    /// another of the same name is created, the share grants the new one, and says so
    /// here (`createdAfterShare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<GrantedObject>,
}

/// The object a share grants, as it is now.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GrantedObject {
    /// Its UID.
    pub uid: String,
    /// Its creator, stamped by the API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// It was created after this share: the share was written for an earlier object
    /// of the same name and now grants this one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub created_after_share: bool,
}

/// The grant of the workflow to one named user or group.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PersonGrant {
    /// User or Group.
    pub kind: String,
    /// User or group name.
    pub name: String,
    /// Active, Suspended or Pending.
    pub state: GrantState,
    /// CamelCase reason for the state.
    pub reason: String,
    /// When access was first granted (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_at: Option<String>,
}

/// The grant of the workflow to one recipient workspace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceGrant {
    /// Recipient workspace (namespace).
    pub workspace: String,
    /// Why the workspace is a target: listed explicitly, part of the organization, or both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<GrantVia>,
    /// Active, Suspended, Rejected or Pending.
    pub state: GrantState,
    /// CamelCase reason for the state.
    pub reason: String,
    /// Detail for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When access was first granted (RFC 3339), as its SharedWorkflow records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_at: Option<String>,
}

/// How many grants are in each state.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GrantCounts {
    #[serde(default)]
    pub active: i32,
    #[serde(default)]
    pub suspended: i32,
    #[serde(default)]
    pub rejected: i32,
    #[serde(default)]
    pub pending: i32,
}

impl GrantCounts {
    /// Counts `states`.
    pub fn of(states: impl IntoIterator<Item = GrantState>) -> Self {
        let mut counts = Self::default();
        for state in states {
            let slot = match state {
                GrantState::Active => &mut counts.active,
                GrantState::Suspended => &mut counts.suspended,
                GrantState::Rejected => &mut counts.rejected,
                GrantState::Pending => &mut counts.pending,
            };
            *slot = slot.saturating_add(1);
        }
        counts
    }

    pub fn total(&self) -> i32 {
        self.active
            .saturating_add(self.suspended)
            .saturating_add(self.rejected)
            .saturating_add(self.pending)
    }
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// How a workspace came to be a target.
#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
)]
pub enum GrantVia {
    /// Listed in `spec.workspaces`.
    Explicit,
    /// Covered by `spec.entireOrganization`.
    Organization,
}

/// State of one grant.
#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
)]
pub enum GrantState {
    /// The workspace has access.
    Active,
    /// Access is withheld for now (archived, not de-identified) and comes back by itself.
    Suspended,
    /// The target can never receive this workflow as declared.
    Rejected,
    /// The target does not exist yet; it is granted when it appears.
    #[default]
    Pending,
}
