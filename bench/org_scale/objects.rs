//! The largest object the controller writes, once every share is Ready: as an
//! organization grows, some objects grow with it (a Role naming every workflow, a
//! RoleBinding naming every workspace), and etcd refuses a write over its request
//! limit (1.5 MiB by default).

use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::TypeMeta;
use workflow_share::labels::{MANAGED_BY_KEY, MANAGED_BY_VALUE};
use workflow_share::resources::{Organization, SharedWorkflow, Workflow, WorkflowShare};

use crate::Res;

/// Objects per list request: a 100,000-object list comes in pages, not as one
/// response of hundreds of megabytes.
const PAGE: u32 = 500;

/// The size of one object's JSON, and which object it is.
#[derive(Default, Debug, Clone)]
pub struct ObjectSize {
    pub bytes: usize,
    /// "Kind namespace/name", or "Kind name" for a cluster-scoped object.
    pub what: String,
}

/// The largest object written, measured two ways (often the same object).
#[derive(Default, Debug, Clone)]
pub struct Largest {
    /// Without `metadata.managedFields`: what the controller's writes make it. The
    /// managed fields are the API server's bookkeeping, sized by how many field
    /// managers wrote it, not by what it holds.
    pub without_managed_fields: ObjectSize,
    /// As the API server holds it.
    pub with_managed_fields: ObjectSize,
}

impl Largest {
    fn merge(&mut self, other: Largest) {
        if other.without_managed_fields.bytes > self.without_managed_fields.bytes {
            self.without_managed_fields = other.without_managed_fields;
        }
        if other.with_managed_fields.bytes > self.with_managed_fields.bytes {
            self.with_managed_fields = other.with_managed_fields;
        }
    }
}

/// Lists, in all namespaces, every kind of object the controller writes — its
/// Roles and RoleBindings by their managed-by label — and returns the largest.
pub async fn largest(c: &Client) -> Res<Largest> {
    let managed = format!("{MANAGED_BY_KEY}={MANAGED_BY_VALUE}");
    let kinds = [
        (ApiResource::erase::<WorkflowShare>(&()), None),
        (ApiResource::erase::<Workflow>(&()), None),
        (ApiResource::erase::<Organization>(&()), None),
        (ApiResource::erase::<SharedWorkflow>(&()), None),
        (ApiResource::erase::<Role>(&()), Some(managed.as_str())),
        (
            ApiResource::erase::<RoleBinding>(&()),
            Some(managed.as_str()),
        ),
    ];
    let mut largest = Largest::default();
    for (resource, labels) in &kinds {
        let of_kind = largest_of(c, resource, *labels).await?;
        eprintln!(
            "bench: largest {}: {} bytes without managedFields ({}), {} with ({})",
            resource.kind,
            of_kind.without_managed_fields.bytes,
            of_kind.without_managed_fields.what,
            of_kind.with_managed_fields.bytes,
            of_kind.with_managed_fields.what,
        );
        largest.merge(of_kind);
    }
    Ok(largest)
}

/// The largest object of one kind, listed page by page.
async fn largest_of(c: &Client, resource: &ApiResource, labels: Option<&str>) -> Res<Largest> {
    let api: Api<DynamicObject> = Api::all_with(c.clone(), resource);
    // List items of built-in kinds come without their type; a GET has it.
    let types = TypeMeta {
        api_version: resource.api_version.clone(),
        kind: resource.kind.clone(),
    };
    let mut largest = Largest::default();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(PAGE);
        if let Some(labels) = labels {
            lp = lp.labels(labels);
        }
        if let Some(token) = &token {
            lp = lp.continue_token(token);
        }
        let page = api.list(&lp).await?;
        for mut object in page.items {
            object.types = Some(types.clone());
            let with = serde_json::to_vec(&object)?.len();
            object.metadata.managed_fields = None;
            let without = serde_json::to_vec(&object)?.len();
            if with > largest.with_managed_fields.bytes {
                largest.with_managed_fields = ObjectSize {
                    bytes: with,
                    what: what(&object),
                };
            }
            if without > largest.without_managed_fields.bytes {
                largest.without_managed_fields = ObjectSize {
                    bytes: without,
                    what: what(&object),
                };
            }
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(largest);
        }
    }
}

/// "Kind namespace/name", or "Kind name" for a cluster-scoped object.
fn what(object: &DynamicObject) -> String {
    let kind = object.types.as_ref().map(|t| t.kind.as_str()).unwrap_or("");
    let name = object.metadata.name.as_deref().unwrap_or("");
    match object.metadata.namespace.as_deref() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}
