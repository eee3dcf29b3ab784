// Several printcolumn(...) entries repeat the same keys by design.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{Condition, Tier};

/// A trigger of a workflow: on a schedule, a webhook or an application event. It
/// always fires as its creator. Private until shared with a TriggerShare; people it
/// is shared with see its status and recent fires, and cannot edit or fire it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "sharing.workflows.dev",
    version = "v1alpha1",
    kind = "Trigger",
    namespaced,
    status = "TriggerStatus",
    shortname = "trg",
    category = "workflow-sharing",
    doc = "Runs a workflow on a schedule, a webhook or an application event, always as the person who created the trigger.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(
        name = "Workflow",
        type_ = "string",
        json_path = ".spec.workflowRef.name"
    ),
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule.cron"),
    printcolumn(name = "Suspend", type_ = "boolean", json_path = ".spec.suspend"),
    printcolumn(name = "Last-Fire", type_ = "date", json_path = ".status.lastFireTime"),
    printcolumn(name = "Tier", type_ = "string", json_path = ".status.tier"),
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
#[x_kube(validation = Rule::new("self.type != 'Schedule' || has(self.schedule)").message("spec.schedule is required for a Schedule trigger").field_path(".schedule").reason(kube::core::Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("self.type != 'AppEvent' || has(self.appEvent)").message("spec.appEvent is required for an AppEvent trigger").field_path(".appEvent").reason(kube::core::Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("self.type == 'Schedule' || has(self.webhook)").message("spec.webhook is required for a Webhook or AppEvent trigger: it names the Secret whose token signs each request").field_path(".webhook").reason(kube::core::Reason::FieldValueRequired))]
#[serde(rename_all = "camelCase")]
pub struct TriggerSpec {
    /// Schedule, Webhook or AppEvent.
    #[serde(rename = "type")]
    pub type_: TriggerType,
    /// The workflow it runs: a Workflow or an enabled SharedWorkflow of this namespace.
    pub workflow_ref: RunnableRef,
    /// When a Schedule trigger fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Which application event fires an AppEvent trigger: the JSON body's `source`
    /// and `event` of a signed request to the receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_event: Option<AppEvent>,
    /// How a Webhook or AppEvent trigger is reached: the Secret whose token signs
    /// each request, and its rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    /// No new fires while true.
    #[serde(default)]
    pub suspend: bool,
    /// How many of its runs to keep; older ones are deleted.
    #[serde(default = "default_history_limit")]
    #[schemars(range(min = 1, max = 100))]
    pub history_limit: i32,
}

fn default_history_limit() -> i32 {
    10
}

/// What fires a trigger.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum TriggerType {
    /// A cron schedule, fired by the controller.
    #[default]
    Schedule,
    /// A signed HTTP request to the controller's receiver.
    Webhook,
    /// An application event, posted to the receiver like a webhook.
    AppEvent,
}

/// A cron schedule in a time zone.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// Five-field cron expression (minute hour day-of-month month day-of-week), or
    /// @hourly, @daily, @weekly, @monthly, @yearly.
    #[schemars(
        length(min = 1, max = 256),
        regex(
            pattern = r"^(@(yearly|annually|monthly|weekly|daily|hourly)|([0-9A-Za-z*?/,#LW-]+( +[0-9A-Za-z*?/,#LW-]+){4}))$"
        )
    )]
    pub cron: String,
    /// IANA time zone of the schedule, e.g. Europe/Berlin (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("timestamp('2000-01-01T00:00:00Z').getFullYear(self) == 2000").message("spec.schedule.timeZone must be an IANA time zone such as Europe/Berlin"))]
    pub time_zone: Option<String>,
    /// A fire missed (the controller was down) is made up for only within this many
    /// seconds of its scheduled time, and only the latest one (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub starting_deadline_seconds: Option<i64>,
}

/// An application event.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AppEvent {
    /// The application that emits it.
    #[schemars(length(min = 1, max = 256))]
    pub source: String,
    /// The event name.
    #[schemars(length(min = 1, max = 256))]
    pub event: String,
}

/// How a Webhook or AppEvent trigger is reached.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// A Secret of type `sharing.workflows.dev/webhook-token` in this namespace. Every
    /// key of it is a token that may sign requests (add a key, switch the sender,
    /// remove the old key: a rotation without a gap).
    pub secret_ref: SecretRef,
    /// Requests accepted per minute by each controller replica (default 60); a
    /// request over it is answered 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 6000))]
    pub requests_per_minute: Option<i32>,
}

/// A Secret of the trigger's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SecretRef {
    /// Its name.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
}

/// A workflow that can run in this namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.__namespace__)").message("a workflow reference is always in this namespace: run a workflow of another workspace through its SharedWorkflow here").field_path(".namespace").reason(kube::core::Reason::FieldValueForbidden))]
pub struct RunnableRef {
    /// Workflow (of this workspace) or SharedWorkflow (shared with it).
    pub kind: RunnableKind,
    /// Its name in this namespace.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
    /// Not allowed; present only so that setting it is refused instead of silently dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The kinds a run can name.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum RunnableKind {
    #[default]
    Workflow,
    SharedWorkflow,
}

/// Observed state of a trigger.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TriggerStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (firing as scheduled), Stalled (cannot fire: see the reason).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Private, Shared or Organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// Who created it: every run it makes runs as them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// Workspaces, then people, that may see it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_with: Vec<String>,
    /// The scheduled time of the last fire (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fire_time: Option<String>,
    /// The next scheduled time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_fire_time: Option<String>,
    /// The latest fires, newest first, at most `historyLimit`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_fires: Vec<Fire>,
    /// Webhook and AppEvent triggers: their path on the controller's receiver
    /// (`/hooks/...`). Derived from the trigger's UID: a trigger made again under the
    /// same name gets a new path; rotating the token keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
    /// The last signed request the receiver answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<Delivery>,
}

/// A signed request to a trigger, as answered.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// When it was received (RFC 3339).
    pub time: String,
    /// Created, Duplicate, Suspended, EventMismatch, or the CamelCase reason the
    /// creator's run was refused.
    pub result: String,
    /// The WorkflowRun it made (or had made, for a redelivery).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run: String,
    /// The sender's delivery id (X-Delivery-ID or X-GitHub-Delivery), first 64 characters.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub delivery_id: String,
}

/// One fire of a trigger.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Fire {
    /// The scheduled time, or when the request was received (RFC 3339).
    pub scheduled_time: String,
    /// The WorkflowRun it created, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run: String,
    /// Created, or the CamelCase reason it was refused.
    pub outcome: String,
}
