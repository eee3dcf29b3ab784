//! The objects the tests send, built as the crate's own types (and k8s-openapi's), and
//! server-side applied as the user of a client: the machinery of sending here, the
//! builders of our kinds in `ours`, those of Kubernetes' own in `kubernetes`.
//!
//! A builder sends only the fields the test set: fields its type would write at their
//! defaults anyway (`archived: false`, `access: View`, ...) are left out, so server-side
//! apply makes the tests' field manager own only what the test asked for.

mod kubernetes;
mod ours;

// Each crate that includes the harness uses only some of it: the benchmark
// (bench/org_scale) uses none of our kinds' builders.
#[allow(unused_imports)]
pub use kubernetes::*;
#[allow(unused_imports)]
pub use ours::*;

use std::ops::AddAssign;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject, ObjectMeta, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::{Client, Resource};
use serde::Serialize;
use serde_json::Value;

/// The field manager of everything the tests apply.
pub const FIELD_MANAGER: &str = "workflow-share-tests";

/// One object as it is sent: the API of its kind and its fields as JSON.
#[derive(Clone, Debug)]
pub struct Object {
    resource: ApiResource,
    value: Value,
}

impl Object {
    fn of<K: Resource<DynamicType = ()> + Serialize>(object: &K) -> Self {
        Object {
            resource: ApiResource::erase::<K>(&()),
            value: serde_json::to_value(object).expect("a serializable object"),
        }
    }

    /// The object as sent.
    pub fn value(&self) -> &Value {
        &self.value
    }

    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }

    fn api(&self, client: &Client) -> Api<DynamicObject> {
        match self.value["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &self.resource),
            None => Api::all_with(client.clone(), &self.resource),
        }
    }
}

/// What the tests send: a builder, several objects in order, or any typed object.
pub trait Manifest {
    /// The objects, in the order they are applied.
    fn objects(&self) -> Vec<Object>;

    /// These objects, then `next`'s.
    fn and(self, next: impl Manifest) -> Objects
    where
        Self: Sized,
    {
        let mut all = Objects::of(self);
        all += next;
        all
    }
}

/// Any typed object, every field as its type serializes it.
impl<K: Resource<DynamicType = ()> + Serialize> Manifest for K {
    fn objects(&self) -> Vec<Object> {
        vec![Object::of(self)]
    }
}

/// Objects of any kinds, applied in the order they were added.
#[derive(Clone, Debug, Default)]
pub struct Objects(Vec<Object>);

impl Objects {
    /// The objects of `manifest`, to add more to.
    pub fn of(manifest: impl Manifest) -> Self {
        Objects(manifest.objects())
    }
}

impl Manifest for Objects {
    fn objects(&self) -> Vec<Object> {
        self.0.clone()
    }
}

impl<M: Manifest> AddAssign<M> for Objects {
    fn add_assign(&mut self, more: M) {
        self.0.extend(more.objects());
    }
}

/// Server-side applies every object of `manifest`, in order, as the user of `client`
/// with the tests' field manager, forced; stops at the first refusal and returns it.
pub async fn apply(client: &Client, manifest: &impl Manifest) -> Result<(), kube::Error> {
    apply_with(client, &PatchParams::apply(FIELD_MANAGER).force(), manifest).await
}

/// `apply` with other patch parameters: another field manager, or no force.
pub async fn apply_with(
    client: &Client,
    params: &PatchParams,
    manifest: &impl Manifest,
) -> Result<(), kube::Error> {
    for object in manifest.objects() {
        object
            .api(client)
            .patch(object.name(), params, &Patch::Apply(&object.value))
            .await?;
    }
    Ok(())
}

/// The objects as a multi-document YAML stream, for the commands that read files.
pub fn to_yaml(manifest: &impl Manifest) -> String {
    manifest
        .objects()
        .iter()
        .map(|o| serde_yaml::to_string(&o.value).expect("YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The one object of `manifest`, untyped (for a request of a kind chosen at run time).
pub fn to_dynamic(manifest: &impl Manifest) -> DynamicObject {
    let [object] = <[Object; 1]>::try_from(manifest.objects()).expect("one object");
    serde_json::from_value(object.value).expect("an object")
}

/// A typed object being built, with the fields its type writes at their defaults that
/// the test has not set (JSON pointers): those are left out when it is sent.
#[derive(Clone, Debug)]
pub struct Builder<K> {
    object: K,
    unset: Vec<&'static str>,
}

impl<K> Builder<K> {
    fn new(object: K, unset: &[&'static str]) -> Self {
        Builder {
            object,
            unset: unset.to_vec(),
        }
    }

    fn set(&mut self, pointer: &str) {
        self.unset.retain(|p| *p != pointer);
    }

    /// The typed object, every field as its type holds it (for `create`).
    pub fn build(self) -> K {
        self.object
    }
}

impl<K: Resource> Builder<K> {
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.object
            .meta_mut()
            .labels
            .get_or_insert_default()
            .insert(key.into(), value.into());
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.object
            .meta_mut()
            .annotations
            .get_or_insert_default()
            .insert(key.into(), value.into());
        self
    }

    pub fn owner_reference(mut self, owner: OwnerReference) -> Self {
        self.object
            .meta_mut()
            .owner_references
            .get_or_insert_default()
            .push(owner);
        self
    }
}

impl<K: Resource<DynamicType = ()> + Serialize> Manifest for Builder<K> {
    fn objects(&self) -> Vec<Object> {
        let mut object = Object::of(&self.object);
        for pointer in &self.unset {
            let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
            if let Some(Value::Object(fields)) = object.value.pointer_mut(parent) {
                fields.remove(key);
            }
        }
        vec![object]
    }
}

fn metadata(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(Into::into),
        ..Default::default()
    }
}

fn strings(items: &[impl AsRef<str>]) -> impl Iterator<Item = String> + '_ {
    items.iter().map(|s| s.as_ref().to_string())
}
