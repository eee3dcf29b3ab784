//! Whether the raw bound creates the objects the controller creates: after the
//! controller's run, one of each kind it created (a library entry, its notification
//! Event, a share's report Event) is read back and compared, field by field and in
//! bytes, with what the raw bound sent. A bound that writes smaller objects than
//! the controller costs the API server less per write, and the ratio against it
//! would then measure the objects, not the controller.

use std::collections::BTreeSet;
use std::fmt::Write;

use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::Value;
use workflow_share::naming;
use workflow_share::resources::SharedWorkflow;

use crate::Res;
use crate::controller_run::SRC;
use crate::scenario::{workflow_name, workspace};

/// One kind of object: the raw bound's and the controller's, compared.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub kind: &'static str,
    pub raw_bytes: usize,
    pub controller_bytes: usize,
    /// Fields (by path, values aside) that only one of them has.
    pub only_raw: Vec<String>,
    pub only_controller: Vec<String>,
}

impl Comparison {
    fn of(kind: &'static str, raw: &Value, written: &Value) -> Self {
        let (raw, written) = (as_sent(raw), as_sent(written));
        let (raw_fields, written_fields) = (fields(&raw), fields(&written));
        Comparison {
            kind,
            raw_bytes: raw.to_string().len(),
            controller_bytes: written.to_string().len(),
            only_raw: raw_fields.difference(&written_fields).cloned().collect(),
            only_controller: written_fields.difference(&raw_fields).cloned().collect(),
        }
    }

    pub fn same_fields(&self) -> bool {
        self.only_raw.is_empty() && self.only_controller.is_empty()
    }

    /// "SharedWorkflow 512 / 518 bytes" and what differs, if anything.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} {} / {} bytes",
            self.kind, self.raw_bytes, self.controller_bytes
        );
        if !self.only_raw.is_empty() {
            let _ = write!(text, ", only the raw bound's: {}", self.only_raw.join(" "));
        }
        if !self.only_controller.is_empty() {
            let _ = write!(
                text,
                ", only the controller's: {}",
                self.only_controller.join(" ")
            );
        }
        text
    }
}

/// The object as its writer sent it: without what the API server adds.
fn as_sent(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
        ] {
            meta.remove(field);
        }
    }
    object
}

/// The paths of every value in `v` ("spec.source.uid", "metadata.labels.<key>"); a
/// list's items are "[]".
fn fields(v: &Value) -> BTreeSet<String> {
    fn walk(v: &Value, path: &str, out: &mut BTreeSet<String>) {
        let join = |key: &str| match path {
            "" => key.to_string(),
            _ => format!("{path}.{key}"),
        };
        match v {
            Value::Object(map) => map.iter().for_each(|(k, v)| walk(v, &join(k), out)),
            Value::Array(items) => items.iter().for_each(|v| walk(v, &join("[]"), out)),
            _ => {
                out.insert(path.to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(v, "", &mut out);
    out
}

/// Compares the raw bound's first entry, notification and report (`raw`, in that
/// order) with the controller's of the same workflow and workspace.
pub async fn compare(c: &Client, raw: [Value; 3]) -> Res<Vec<Comparison>> {
    let ws = workspace("bench", 0);
    let wf = workflow_name(0);
    let name = naming::shared_workflow_name(SRC, &wf);
    let entry = Api::<SharedWorkflow>::namespaced(c.clone(), &ws)
        .get(&name)
        .await?;
    let uid = entry.metadata.uid.clone().unwrap_or_default();
    let events = |ns: &str| Api::<Event>::namespaced(c.clone(), ns);
    let notification = events(&ws)
        .get(&naming::notification_event_name(&name, &uid))
        .await?;
    // Any report will do: they differ only in the workflow they name.
    let report = events(SRC)
        .list(&ListParams::default().limit(100))
        .await?
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("Granted"))
        .ok_or("no report Event of the controller")?;
    let [raw_entry, raw_notification, raw_report] = raw;
    Ok(vec![
        Comparison::of("SharedWorkflow", &raw_entry, &serde_json::to_value(entry)?),
        Comparison::of(
            "notification Event",
            &raw_notification,
            &serde_json::to_value(notification)?,
        ),
        Comparison::of("report Event", &raw_report, &serde_json::to_value(report)?),
    ])
}
