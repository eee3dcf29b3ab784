//! The benchmark's watches: when library entries appear and when shares are Ready,
//! as a watch delivers them (polling with lists would load the API server while
//! the controller or the raw bound works).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::{WatchStreamExt, watcher};
use workflow_share::resources::{SharedWorkflow, WorkflowShare};

use crate::Res;

/// What a watch task has seen so far; the task stops when this is dropped, so that a
/// torn-down control plane does not leave a watcher retrying in the background.
pub struct Watching<T> {
    pub seen: Arc<Mutex<T>>,
    task: tokio::task::JoinHandle<()>,
}

impl<T> Drop for Watching<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Counts distinct library entries per workspace as the watch delivers them, and
/// the moment each (workspace, entry) first appeared.
#[derive(Default)]
pub struct Arrivals {
    pub seen: HashSet<(String, String)>,
    pub per_namespace: HashMap<String, usize>,
    pub last: HashMap<(String, String), Instant>,
}

/// Locks what a watch has seen, through a panicked holder's poison (the data stays
/// usable: it is counts and instants).
pub fn seen<T>(seen: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    seen.lock().unwrap_or_else(|p| p.into_inner())
}

/// Returns once the watch has listed: a phase timed from before it would count the
/// watch's own start (on a fresh control plane, most of a second).
pub async fn watch_entries(client: &Client) -> Res<Watching<Arrivals>> {
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let sink = arrivals.clone();
    let (listed, mut has_listed) = tokio::sync::watch::channel(false);
    // Metadata only: the names are all the benchmark needs.
    let api: Api<PartialObjectMeta<SharedWorkflow>> = Api::all(client.clone());
    // The controller's entries and the raw bound's: both phases run under the same watch.
    let cfg = watcher::Config::default()
        .labels("app.kubernetes.io/managed-by in (workflow-share, workflow-share-raw)");
    let task = tokio::spawn(async move {
        let mut events = std::pin::pin!(watcher::watcher(api, cfg).default_backoff());
        while let Some(event) = events.next().await {
            let Ok(event) = event else { continue };
            let mut a = seen(&sink);
            match event {
                watcher::Event::Apply(m) | watcher::Event::InitApply(m) => {
                    let key = (
                        m.metadata.namespace.clone().unwrap_or_default(),
                        m.metadata.name.clone().unwrap_or_default(),
                    );
                    if a.seen.insert(key.clone()) {
                        *a.per_namespace.entry(key.0.clone()).or_default() += 1;
                        a.last.insert(key, Instant::now());
                    }
                }
                watcher::Event::Delete(m) => {
                    let key = (
                        m.metadata.namespace.clone().unwrap_or_default(),
                        m.metadata.name.clone().unwrap_or_default(),
                    );
                    if a.seen.remove(&key) {
                        if let Some(n) = a.per_namespace.get_mut(&key.0) {
                            *n -= 1;
                        }
                        a.last.remove(&key);
                    }
                }
                watcher::Event::InitDone => {
                    listed.send_replace(true);
                }
                watcher::Event::Init => {}
            }
        }
    });
    let watching = Watching {
        seen: arrivals,
        task,
    };
    tokio::time::timeout(Duration::from_secs(60), has_listed.wait_for(|l| *l))
        .await
        .map_err(|_| "the entry watch did not list within 60 s")??;
    Ok(watching)
}

/// Waits until the entry watch has seen `want` entries (in `namespace`, or in all),
/// for at most `timeout`.
pub async fn seen_by_watch(
    arrivals: &Arc<Mutex<Arrivals>>,
    namespace: Option<&str>,
    want: usize,
    timeout: Duration,
) -> Res<()> {
    let count = || {
        let a = seen(arrivals);
        match namespace {
            Some(ns) => a.per_namespace.get(ns).copied().unwrap_or(0),
            None => a.seen.len(),
        }
    };
    let start = Instant::now();
    while count() < want {
        if start.elapsed() > timeout {
            return Err(format!(
                "timed out after {timeout:?}: the watch saw {} of {want} entries",
                count()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

pub async fn wait_for(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) -> Res<Duration> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > timeout {
            return Err(format!("timed out after {timeout:?} waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(start.elapsed())
}

/// Readiness of the shares of one namespace.
#[derive(Default)]
pub struct ShareStates {
    ready: HashSet<String>,
    stalled: Option<String>,
}

impl Watching<ShareStates> {
    /// How many shares are Ready; an error once one is Stalled.
    pub fn ready(&self) -> Res<usize> {
        let s = seen(&self.seen);
        match &s.stalled {
            Some(why) => Err(why.clone().into()),
            None => Ok(s.ready.len()),
        }
    }
}

pub fn watch_shares(client: &Client, ns: &str) -> Watching<ShareStates> {
    let states = Arc::new(Mutex::new(ShareStates::default()));
    let sink = states.clone();
    let api: Api<WorkflowShare> = Api::namespaced(client.clone(), ns);
    let task = tokio::spawn(async move {
        let mut events =
            std::pin::pin!(watcher::watcher(api, watcher::Config::default()).default_backoff());
        while let Some(event) = events.next().await {
            let Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) = event else {
                continue;
            };
            let mut st = seen(&sink);
            let name = s.metadata.name.clone().unwrap_or_default();
            let status = s.status.as_ref();
            let condition = |t: &str| {
                status.is_some_and(|st| {
                    st.conditions
                        .iter()
                        .any(|c| c.type_ == t && c.status == "True")
                })
            };
            if condition("Stalled") {
                st.stalled = Some(format!("share {name:?} is Stalled: {status:?}"));
            }
            let current = status.is_some_and(|x| x.observed_generation == s.metadata.generation);
            if current && condition("Ready") {
                st.ready.insert(name);
            } else {
                st.ready.remove(&name);
            }
        }
    });
    Watching { seen: states, task }
}
