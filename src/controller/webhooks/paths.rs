//! Which trigger each receiver path is, kept from the triggers' watch events so a
//! request finds its trigger without a scan or an API read.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Event;

use crate::planner::webhook::path_of;
use crate::resources::Trigger;

#[derive(Default)]
struct Paths {
    by_path: HashMap<String, ObjectRef<Trigger>>,
    /// Filled during a relist; replaces `by_path` when it is done.
    relisting: Option<HashMap<String, ObjectRef<Trigger>>>,
}

/// Receiver path → trigger. The path comes from the UID (`planner::webhook::path_of`),
/// never from anything written into the trigger, so nobody can claim another
/// trigger's path.
#[derive(Default)]
pub struct WebhookPaths(Mutex<Paths>);

fn entry(trigger: &Trigger) -> Option<(String, ObjectRef<Trigger>)> {
    let uid = trigger.uid()?;
    Some((path_of(&uid), ObjectRef::from_obj(trigger)))
}

impl WebhookPaths {
    /// Keeps the index up to date with one watch event of the triggers.
    pub fn observe(&self, event: &Event<Trigger>) {
        let mut paths = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Apply(trigger) => paths.by_path.extend(entry(trigger)),
            Event::Delete(trigger) => {
                if let Some((path, _)) = entry(trigger) {
                    paths.by_path.remove(&path);
                }
            }
            Event::Init => paths.relisting = Some(HashMap::new()),
            Event::InitApply(trigger) => {
                if let Some(relisting) = paths.relisting.as_mut() {
                    relisting.extend(entry(trigger));
                }
            }
            Event::InitDone => {
                if let Some(relisted) = paths.relisting.take() {
                    paths.by_path = relisted;
                }
            }
        }
    }

    /// The trigger whose path this is, if any.
    pub fn get(&self, path: &str) -> Option<ObjectRef<Trigger>> {
        let paths = self.0.lock().unwrap_or_else(|p| p.into_inner());
        paths.by_path.get(path).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(name: &str, uid: &str) -> Trigger {
        let mut t = Trigger::new(name, Default::default());
        t.metadata.namespace = Some("ventes".into());
        t.metadata.uid = Some(uid.into());
        t
    }

    #[test]
    fn a_path_names_the_trigger_of_its_uid_until_it_is_deleted_or_relisted_away() {
        let index = WebhookPaths::default();
        let (first, again) = (trigger("déployer", "uid-1"), trigger("déployer", "uid-2"));
        index.observe(&Event::Apply(first.clone()));
        assert_eq!(
            index.get(&path_of("uid-1")),
            Some(ObjectRef::from_obj(&first))
        );
        assert_eq!(index.get("/hooks/0000"), None);
        index.observe(&Event::Delete(first.clone()));
        assert_eq!(index.get(&path_of("uid-1")), None, "deleted");
        index.observe(&Event::Apply(again.clone()));
        assert_eq!(
            index.get(&path_of("uid-1")),
            None,
            "the same name made again: a new path"
        );
        // A relist that no longer has it: gone once the relist is done, not before.
        index.observe(&Event::Init);
        assert!(
            index.get(&path_of("uid-2")).is_some(),
            "still served during the relist"
        );
        index.observe(&Event::InitApply(first.clone()));
        index.observe(&Event::InitDone);
        assert_eq!(index.get(&path_of("uid-2")), None);
        assert!(index.get(&path_of("uid-1")).is_some());
    }
}
