//! Sharing a Project or a Trigger: `ProjectShare` and `TriggerShare` have the shape of
//! a WorkflowShare (a reference to one object in the same namespace; workspaces, the
//! entire organization, named people) and the same status, and one planner serves
//! all three.

// Several printcolumn(...) entries repeat the same keys by design.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{People, WorkflowShareStatus};

/// Reference to an object in the share's own namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.__namespace__)").message("a share can only reference an object in its own namespace").field_path(".namespace").reason(kube::core::Reason::FieldValueForbidden))]
#[x_kube(validation = Rule::new("self.name == oldSelf.name").message("the reference is immutable: delete the share and create a new one").field_path(".name"))]
pub struct LocalObjectRef {
    /// Name of the object.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
    /// Not allowed; present only so that setting it is refused instead of silently dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Who receives an object: explicit workspaces, the entire organization, named people.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ShareScope {
    /// Workspaces (namespaces of the same organization) whose members may read it.
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
    /// Every member of every workspace of the owner's organization, its own included.
    #[serde(default)]
    pub entire_organization: bool,
    /// Named people who may read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people: Option<People>,
}

macro_rules! object_share {
    ($spec:ident, $kind:literal, $short:literal, $reffield:ident, $refjson:literal, $doc:literal, $what:literal) => {
        #[doc = $doc]
        #[derive(
            CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq,
        )]
        #[kube(
                            group = "sharing.workflows.dev",
                            version = "v1alpha1",
                            kind = $kind,
                            namespaced,
                            status = "WorkflowShareStatus",
                            shortname = $short,
                            category = "workflow-sharing",
                            doc = $doc,
                            printcolumn(name = $what, type_ = "string", json_path = $refjson),
                            printcolumn(
                                name = "Org-Wide",
                                type_ = "boolean",
                                json_path = ".spec.entireOrganization"
                            ),
                            printcolumn(
                                name = "Ready",
                                type_ = "string",
                                json_path = ".status.conditions[?(@.type==\"Ready\")].status"
                            ),
                            printcolumn(
                                name = "Age",
                                type_ = "date",
                                json_path = ".metadata.creationTimestamp"
                            )
                        )]
        #[serde(rename_all = "camelCase")]
        pub struct $spec {
            /// The shared object, in the same namespace as this share.
            pub $reffield: LocalObjectRef,
            /// Who receives it.
            #[serde(flatten)]
            pub scope: ShareScope,
        }
    };
}

object_share!(
    ProjectShareSpec,
    "ProjectShare",
    "pjs",
    project_ref,
    ".spec.projectRef.name",
    "Shares one project (read-only) with workspaces of the same organization and with named people. Never shares the workflows or triggers of the project.",
    "Project"
);

object_share!(
    TriggerShareSpec,
    "TriggerShare",
    "trs",
    trigger_ref,
    ".spec.triggerRef.name",
    "Shares one trigger (its status and recent fires, read-only) with workspaces of the same organization and with named people. It always fires as its creator.",
    "Trigger"
);
