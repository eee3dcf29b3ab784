//! The resourceVersions this process's own writes produced. The watch event of such
//! a write would wake the sync that made it, which already knows the outcome: when a
//! workspace joins a large organization, every workflow synced twice and the
//! controller's queue filled with keys waiting for themselves. Anyone else's change
//! to the same object carries another resourceVersion and still wakes its sync.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::{Resource, ResourceExt};

/// Kind, namespace and name of one object.
type ObjectKey = (String, String, String);

#[derive(Default)]
pub struct OwnWrites(Mutex<HashMap<ObjectKey, Vec<String>>>);

impl OwnWrites {
    /// Bounded: past this many objects it starts over (a forgotten write wakes one
    /// sync too many, which changes nothing).
    const LIMIT: usize = 100_000;
    /// A sync writes an object a few times at most (finalizer, then status).
    const PER_OBJECT: usize = 4;

    fn key<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectKey {
        (
            K::kind(&()).into_owned(),
            obj.namespace().unwrap_or_default(),
            obj.name_any(),
        )
    }

    /// Remembers `written`, the object as the API server returned it from our write.
    pub fn wrote<K: Resource<DynamicType = ()>>(&self, written: &K) {
        let Some(version) = written.resource_version() else {
            return;
        };
        let mut writes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if writes.len() >= Self::LIMIT {
            writes.clear();
        }
        let versions = writes.entry(Self::key(written)).or_default();
        if versions.len() >= Self::PER_OBJECT {
            versions.remove(0);
        }
        versions.push(version);
    }

    /// Whether `seen` (from a watch) is one of our writes coming back; each write
    /// answers yes once.
    pub fn is_echo<K: Resource<DynamicType = ()>>(&self, seen: &K) -> bool {
        let Some(version) = seen.meta().resource_version.as_deref() else {
            return false;
        };
        let mut writes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if writes.is_empty() {
            return false; // most events: nothing to build a key for
        }
        let key = Self::key(seen);
        let Some(versions) = writes.get_mut(&key) else {
            return false;
        };
        let Some(at) = versions.iter().position(|v| v == version) else {
            return false;
        };
        // Older versions than this one will not come back any more.
        versions.drain(..=at);
        if versions.is_empty() {
            writes.remove(&key);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::Role;

    fn role(namespace: &str, name: &str, version: &str) -> Role {
        Role {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                resource_version: Some(version.into()),
                ..Default::default()
            },
            rules: None,
        }
    }

    #[test]
    fn only_our_own_versions_are_echoes_and_each_once() {
        let own = OwnWrites::default();
        own.wrote(&role("vente-é", "lecteurs-ü", "10"));
        own.wrote(&role("vente-é", "lecteurs-ü", "12"));
        // Someone else's change in between is not ours.
        assert!(!own.is_echo(&role("vente-é", "lecteurs-ü", "11")));
        assert!(!own.is_echo(&role("other", "lecteurs-ü", "10")));
        assert!(own.is_echo(&role("vente-é", "lecteurs-ü", "10")));
        assert!(!own.is_echo(&role("vente-é", "lecteurs-ü", "10")), "once");
        assert!(own.is_echo(&role("vente-é", "lecteurs-ü", "12")));
        assert!(own.0.lock().map(|w| w.is_empty()).unwrap_or(false));
    }

    #[test]
    fn a_write_read_back_as_metadata_matches_the_whole_object_watched() {
        let own = OwnWrites::default();
        let written: crate::runtime::writes::Written<Role> =
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "lecteurs-ü", "namespace": "vente-é", "resourceVersion": "7"},
                "rules": [],
            }))
            .unwrap();
        own.wrote(&written);
        assert!(own.is_echo(&role("vente-é", "lecteurs-ü", "7")));
    }

    #[test]
    fn a_skipped_echo_is_dropped_with_the_ones_before_it() {
        let own = OwnWrites::default();
        own.wrote(&role("ns", "r", "1"));
        own.wrote(&role("ns", "r", "2"));
        // A relist may deliver only the latest version.
        assert!(own.is_echo(&role("ns", "r", "2")));
        assert!(!own.is_echo(&role("ns", "r", "1")));
    }
}
