//! The watch that keeps the entry cache (see `entry_cache`), with the same rules as
//! every other watch (see `runtime::watch`): the echoes of this process's own writes
//! wake nothing, a relist replaces the cache all at once when complete and wakes
//! only what changed meanwhile, and a reaction never reads a cache older than the
//! change it reacts to.

use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tracing::warn;

use super::entry_cache::{Change, Entries, Entry};
use crate::resources::SharedWorkflow;
use crate::runtime::watch::Watches;

/// Starts the watch of every SharedWorkflow into `entries`; `on_change` runs for
/// each entry changed, made or gone, once the cache shows it.
pub fn start(
    client: &Client,
    watches: &mut Watches,
    entries: Arc<Entries>,
    on_change: impl Fn(&Entry) + Send + 'static,
) {
    let own_writes = watches.own_writes();
    let (listed, mut ready) = tokio::sync::watch::channel(false);
    let api: Api<SharedWorkflow> = Api::all(client.clone());
    let task = watcher(api, watcher::Config::default())
        .default_backoff()
        .for_each(move |event| {
            match event {
                Ok(watcher::Event::Apply(sw)) => {
                    let echo = own_writes.is_echo(&sw);
                    let change = entries.applied(sw);
                    if !echo {
                        on_change(change.entry());
                    }
                }
                Ok(watcher::Event::Delete(sw)) => on_change(entries.deleted(sw).entry()),
                Ok(watcher::Event::Init) => entries.relist_begins(),
                Ok(watcher::Event::InitApply(sw)) => entries.relisted(sw),
                Ok(watcher::Event::InitDone) => {
                    for change in entries.relist_done() {
                        on_change(change.entry());
                    }
                    listed.send_replace(true);
                }
                Err(error) => warn!(%error, "watch failed; retrying with backoff"),
            }
            async {}
        });
    watches.spawn("watch of sharedworkflows".to_string(), task, async move {
        // Dropped only with the task, whose end is reported as a failure.
        let _ = ready.wait_for(|listed| *listed).await;
    });
}

impl Change {
    /// The entry as it is now, or was last.
    pub fn entry(&self) -> &Entry {
        match self {
            Change::Changed(e) | Change::Gone(e) => e,
        }
    }
}
