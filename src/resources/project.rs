// Several printcolumn(...) entries repeat the same keys by design.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{Condition, Tier};

/// A project: documents, a team of people and agents, an optional chatbot and an
/// activity feed. Private to its creator (and the audit view) until shared with a
/// ProjectShare; sharing it never shares the workflows or triggers in it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "sharing.workflows.dev",
    version = "v1alpha1",
    kind = "Project",
    namespaced,
    status = "VisibilityStatus",
    shortname = "pj",
    category = "workflow-sharing",
    doc = "A project of one workspace: documents, team, chatbot and activity. Share it with ProjectShare objects.",
    printcolumn(name = "Tier", type_ = "string", json_path = ".status.tier"),
    printcolumn(
        name = "Display-Name",
        type_ = "string",
        json_path = ".spec.displayName"
    ),
    printcolumn(name = "Creator", type_ = "string", json_path = ".status.creator"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSpec {
    /// Name shown to people.
    #[schemars(length(min = 1, max = 256))]
    pub display_name: String,
    /// What the project is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 4096))]
    pub description: String,
    /// Documents the project refers to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub documents: Vec<ProjectDocument>,
    /// People and agents working in the project.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub team: Vec<TeamMember>,
    /// An assistant answering questions about the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chatbot: Option<Chatbot>,
    /// Recent activity, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub activity: Vec<ActivityEntry>,
}

/// A document the project refers to.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ProjectDocument {
    /// Title.
    #[schemars(length(min = 1, max = 256))]
    pub title: String,
    /// Where it is (a URL or a document id).
    #[schemars(length(min = 1, max = 2048))]
    pub reference: String,
}

/// A person or an agent of the project team.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct TeamMember {
    /// Person or Agent.
    #[schemars(extend("enum" = ["Person", "Agent"]))]
    pub kind: String,
    /// Name.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Role in the project.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 256))]
    pub role: String,
}

/// The project's assistant.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Chatbot {
    /// Whether it answers.
    #[serde(default)]
    pub enabled: bool,
    /// How it should answer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 8192))]
    pub instructions: String,
}

/// One line of the activity feed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ActivityEntry {
    /// When (RFC 3339).
    #[schemars(length(min = 1, max = 64))]
    pub at: String,
    /// Who.
    #[schemars(length(min = 1, max = 256))]
    pub actor: String,
    /// What happened.
    #[schemars(length(min = 1, max = 1024))]
    pub text: String,
}

/// Who can see an object (a Project or a Trigger) and why.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VisibilityStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Private, Shared or Organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// Who created it: the only one who may change or delete it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// Workspaces, then people (`User:name`, `Group:name`), that may read it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_with: Vec<String>,
}
