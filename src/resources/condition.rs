use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A kstatus-style condition (the fields of metav1.Condition).
///
/// Own type rather than k8s-openapi's so the schema carries descriptions and
/// timestamps stay RFC 3339 strings that round-trip through `plan` without a clock.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type: Ready, Reconciling or Stalled.
    #[serde(rename = "type")]
    pub type_: String,
    /// True, False or Unknown.
    pub status: String,
    /// CamelCase reason for the last transition, stable for automation.
    pub reason: String,
    /// Human-readable detail.
    #[serde(default)]
    pub message: String,
    /// The metadata.generation this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// The kstatus condition types every kind reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionType {
    /// The object is what its spec asks for.
    Ready,
    /// Work towards a new spec is under way.
    Reconciling,
    /// Progress is blocked until someone changes something.
    Stalled,
}

impl ConditionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Reconciling => "Reconciling",
            ConditionType::Stalled => "Stalled",
        }
    }
}

impl Condition {
    pub fn new(
        type_: ConditionType,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_: type_.as_str().to_string(),
            status: if status { "True" } else { "False" }.to_string(),
            reason: reason.to_string(),
            message: message.into(),
            observed_generation: None,
            last_transition_time: None,
        }
    }

    /// A condition whose truth is not known yet (work in progress).
    pub fn unknown(type_: ConditionType, reason: &str, message: impl Into<String>) -> Self {
        Self {
            status: "Unknown".to_string(),
            ..Self::new(type_, false, reason, message)
        }
    }

    pub fn is(&self, type_: ConditionType) -> bool {
        self.type_ == type_.as_str()
    }

    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// The current time as conditions and grants record it: RFC 3339, whole seconds.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Carries `lastTransitionTime` over from `previous` when the status did not change,
/// so a converged object is not rewritten with a fresh timestamp.
pub fn merge_conditions(
    previous: &[Condition],
    mut next: Vec<Condition>,
    generation: Option<i64>,
    now: &str,
) -> Vec<Condition> {
    for cond in &mut next {
        cond.observed_generation = generation;
        let prior = previous.iter().find(|p| p.type_ == cond.type_);
        cond.last_transition_time = match prior {
            Some(p) if p.status == cond.status => p.last_transition_time.clone(),
            _ => Some(now.to_string()),
        };
    }
    next
}

/// A status carrying kstatus conditions, so one writer can merge transition times
/// and skip writes that would change nothing.
pub trait Conditioned: Clone + Default + PartialEq + serde::Serialize {
    fn conditions(&self) -> &[Condition];
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
}

macro_rules! conditioned {
    ($($status:ty),*) => {$(
        impl Conditioned for $status {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
        }
    )*};
}

conditioned!(
    super::WorkflowStatus,
    super::WorkflowShareStatus,
    super::OrganizationStatus,
    super::WorkflowCloneStatus,
    super::VisibilityStatus,
    super::TriggerStatus,
    super::WorkflowRunStatus
);
