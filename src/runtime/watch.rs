//! Watches that keep a cache filled and react to each change once the cache holds
//! it, so that whatever a change wakes never reads a cache older than the change.
//!
//! ```text
//! Watch::all(&client).labels("a=b").significant(changed).cache(&mut watches, |obj| ...)
//! ```
//!
//! Every watch drops `managedFields` (nothing reads them, and they are a large part
//! of every object), skips the echoes of this process's own writes (see
//! `own_writes`), and after a relist reacts only to what changed meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use kube::runtime::reflector::store::{Writer, WriterDropped};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::warn;

use super::Watched;
use super::own_writes::OwnWrites;

/// Long-running tasks, each returning its name when it ends.
pub type Tasks = tokio::task::JoinSet<String>;

/// Every watch started: its task, and when its first list is in. Watching one more
/// kind is one `Watch`; waiting for it comes with it.
pub struct Watches {
    tasks: Tasks,
    ready: Vec<BoxFuture<'static, Result<(), WriterDropped>>>,
    own_writes: Arc<OwnWrites>,
}

impl Watches {
    /// `own_writes`: this process's writes, whose echoes wake nothing.
    pub fn new(own_writes: Arc<OwnWrites>) -> Self {
        Self {
            tasks: Tasks::new(),
            ready: Vec::new(),
            own_writes,
        }
    }

    /// Waits until every cache has its initial list: planning from a partial view
    /// would revoke grants that are still declared.
    pub async fn all_ready(&mut self) -> Result<(), WriterDropped> {
        futures::future::try_join_all(std::mem::take(&mut self.ready)).await?;
        Ok(())
    }

    /// The watch tasks, to be waited on with the other long-running tasks.
    pub fn take_tasks(&mut self) -> Tasks {
        std::mem::take(&mut self.tasks)
    }

    /// This process's writes, for a watch that keeps a cache of its own.
    pub fn own_writes(&self) -> Arc<OwnWrites> {
        self.own_writes.clone()
    }

    /// Starts a watch that keeps a cache of its own: `task` runs it (and never
    /// ends), `ready` completes once its first list is in.
    pub fn spawn(
        &mut self,
        name: String,
        task: impl std::future::Future<Output = ()> + Send + 'static,
        ready: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.ready.push(Box::pin(async move {
            ready.await;
            Ok(())
        }));
        self.tasks.spawn(async move {
            task.await;
            name
        });
    }
}

/// Shown each event before the cache applies it.
type Observer<K> = Box<dyn Fn(&watcher::Event<K>) + Send>;

/// One watch of `S`, caching `K` (`S` itself unless `projected`).
pub struct Watch<S, K> {
    api: Api<S>,
    config: watcher::Config,
    project: Box<dyn Fn(S) -> K + Send + Sync>,
    significant: fn(&K, &K) -> bool,
    observe: Observer<K>,
}

impl<K: Watched> Watch<K, K> {
    /// Every object of `K` in the cluster.
    pub fn all(client: &Client) -> Self {
        Self {
            api: Api::all(client.clone()),
            config: watcher::Config::default(),
            project: Box::new(|o| o),
            significant: always,
            observe: Box::new(|_| {}),
        }
    }

    /// Caches `project(object)` instead of each whole object, and shows each event
    /// to `observe` before the cache applies it (say, to keep an index).
    pub fn projected<P>(
        self,
        project: impl Fn(K) -> P + Send + Sync + 'static,
        observe: impl Fn(&watcher::Event<P>) + Send + 'static,
    ) -> Watch<K, P> {
        Watch {
            api: self.api,
            config: self.config,
            project: Box::new(project),
            significant: always,
            observe: Box::new(observe),
        }
    }
}

impl<S, K> Watch<S, K>
where
    S: Watched,
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    /// Only objects with these labels (a label selector).
    pub fn labels(mut self, selector: &str) -> Self {
        self.config = self.config.labels(selector);
        self
    }

    /// Only objects with these fields (a field selector): the API server filters,
    /// so nothing else is ever sent to this process.
    pub fn fields(mut self, selector: &str) -> Self {
        self.config = self.config.fields(selector);
        self
    }

    /// An update reacts only when `significant(before, after)`: an Organization's
    /// status, say, changes no grant.
    pub fn significant(mut self, significant: fn(&K, &K) -> bool) -> Self {
        self.significant = significant;
        self
    }

    /// Starts the watch into a new cache and returns it.
    pub fn cache(self, watches: &mut Watches, on_change: impl Fn(&K) + Send + 'static) -> Store<K> {
        let (store, writer) = reflector::store();
        self.cache_into(watches, writer, on_change);
        store
    }

    /// Starts the watch into a cache made beforehand (for caches that the reactions
    /// of other watches read). `on_change` runs after the cache holds the change.
    pub fn cache_into(
        self,
        watches: &mut Watches,
        writer: Writer<K>,
        on_change: impl Fn(&K) + Send + 'static,
    ) {
        let reader = writer.as_reader();
        watches
            .ready
            .push(Box::pin(async move { reader.wait_until_ready().await }));
        let mut relists = Relists::new(writer.as_reader());
        let before_update = writer.as_reader();
        let own_writes = watches.own_writes.clone();
        let Watch {
            api,
            config,
            project,
            significant,
            observe,
        } = self;
        // Whether the event passing through is an insignificant update: judged against
        // the cache before the reflector applies it, read after (one event at a time).
        let quiet = Arc::new(AtomicBool::new(false));
        let judged = quiet.clone();
        let stream = reflector::reflector(
            writer,
            watcher(api, config)
                .default_backoff()
                .modify(|obj| obj.managed_fields_mut().clear())
                .map_ok(move |event| {
                    let echo =
                        matches!(&event, watcher::Event::Apply(obj) if own_writes.is_echo(obj));
                    let event = projected(event, &project);
                    observe(&event);
                    let insignificant = echo
                        || match &event {
                            watcher::Event::Apply(obj) => before_update
                                .get(&ObjectRef::from_obj(obj))
                                .is_some_and(|before| !significant(&before, obj)),
                            _ => false,
                        };
                    judged.store(insignificant, Ordering::SeqCst);
                    event
                }),
        );
        let watch = stream.for_each(move |res| {
            match res {
                Ok(watcher::Event::Apply(_)) if quiet.load(Ordering::SeqCst) => {}
                Ok(event) => relists.react(event, &on_change),
                Err(error) => warn!(%error, "watch failed; retrying with backoff"),
            }
            async {}
        });
        // The watcher retries forever, so this task ending at all is a failure.
        watches.tasks.spawn(async move {
            watch.await;
            format!("watch of {}", S::plural(&()))
        });
    }
}

/// A relist (after a watch expired or the API server restarted) delivers every
/// object again; only those that changed meanwhile react, and only once the relist
/// is done: the cache takes the relisted objects all at once then, and a sync woken
/// before would plan from the cache as it was before the relist.
struct Relists<K: Resource<DynamicType = ()> + Clone + 'static> {
    cache: Store<K>,
    /// What the cache held when the relist began, less what was relisted unchanged.
    relisting: Option<HashMap<ObjectRef<K>, Arc<K>>>,
    changed: Vec<K>,
}

impl<K> Relists<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    fn new(cache: Store<K>) -> Self {
        Self {
            cache,
            relisting: None,
            changed: Vec::new(),
        }
    }

    fn react(&mut self, event: watcher::Event<K>, on_change: &impl Fn(&K)) {
        match event {
            watcher::Event::Apply(obj) | watcher::Event::Delete(obj) => on_change(&obj),
            watcher::Event::Init => {
                self.changed.clear();
                // The cache still holds what the previous watch saw.
                self.relisting = Some(
                    self.cache
                        .state()
                        .into_iter()
                        .map(|o| (ObjectRef::from_obj(o.as_ref()), o))
                        .collect(),
                );
            }
            watcher::Event::InitApply(obj) => {
                let before = self
                    .relisting
                    .as_mut()
                    .and_then(|seen| seen.remove(&ObjectRef::from_obj(&obj)));
                let unchanged = before.is_some_and(|b| {
                    b.resource_version().is_some() && b.resource_version() == obj.resource_version()
                });
                if !unchanged {
                    self.changed.push(obj);
                }
            }
            watcher::Event::InitDone => {
                for obj in std::mem::take(&mut self.changed) {
                    on_change(&obj);
                }
                // Deleted while the watch was down: the last known object says whom it affected.
                for gone in self.relisting.take().unwrap_or_default().into_values() {
                    on_change(&gone);
                }
            }
        }
    }
}

/// Every update is significant.
fn always<K>(_: &K, _: &K) -> bool {
    true
}

/// A watch event with its object replaced by `project(object)`.
fn projected<S, K>(event: watcher::Event<S>, project: impl Fn(S) -> K) -> watcher::Event<K> {
    use watcher::Event;
    match event {
        Event::Apply(o) => Event::Apply(project(o)),
        Event::Delete(o) => Event::Delete(project(o)),
        Event::InitApply(o) => Event::InitApply(project(o)),
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
    }
}

/// A cache of `K` for a Controller of its own, and the stream of its changed objects
/// for that Controller; every event is also shown to `observe` once the cache holds
/// it (a Controller alone does not see deletions).
pub fn controller_source<K: Watched>(
    client: &Client,
    observe: impl Fn(&watcher::Event<K>) + Send + 'static,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
) {
    let (store, writer) = reflector::store::<K>();
    let events = watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(|obj| obj.managed_fields_mut().clear())
        .reflect(writer)
        .inspect_ok(move |event| observe(event))
        .applied_objects();
    (store, events)
}
