//! The reconcile loops of one leader term: each kube-runtime Controller supervised
//! (see `supervise`), timed and counted under its name, and all stopped together.

use std::future::Future;
use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use kube::runtime::controller::{Action, Controller};

use super::Watched;
use super::supervise;
use super::watch::Tasks;
use crate::controller::Context;
use crate::error::Error;

pub struct Loops {
    tasks: Tasks,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Default for Loops {
    fn default() -> Self {
        Self {
            tasks: Tasks::new(),
            stop: tokio::sync::watch::channel(false).0,
        }
    }
}

impl Loops {
    /// Completes once the loops are asked to stop.
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stop = self.stop.subscribe();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
    }

    /// Runs `controller` with `reconcile`, under the bounded metric label `name`.
    /// It finishes the reconciles it runs when asked to stop.
    pub fn spawn<K, F, Fut>(
        &mut self,
        name: &'static str,
        controller: Controller<K>,
        ctx: &Arc<Context>,
        reconcile: F,
    ) where
        K: Watched,
        F: FnOnce(Arc<K>, Arc<Context>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, Error>> + Send + 'static,
    {
        let running = controller
            .graceful_shutdown_on(self.stopping())
            .run(
                move |obj, ctx| supervise::guarded(name, obj, ctx, reconcile.clone()),
                move |obj, error, ctx| supervise::error_policy(name, obj, error, ctx),
                ctx.clone(),
            )
            .for_each(move |res| async move {
                if let Err(error) = res {
                    tracing::debug!(%error, controller = name, "controller event");
                }
            });
        self.tasks
            .spawn(running.map(move |()| format!("{name} controller")));
    }

    /// Runs `task` until it ends or the loops are asked to stop.
    pub fn spawn_task(
        &mut self,
        name: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let stopping = self.stopping();
        self.tasks.spawn(async move {
            tokio::select! {
                () = task => {}
                () = stopping => {}
            }
            name.to_string()
        });
    }

    /// The next loop that ended (on its own, unless stopping).
    pub async fn ended(&mut self) -> Option<Result<String, tokio::task::JoinError>> {
        self.tasks.join_next().await
    }

    /// Stops every loop at once, mid-reconcile (every write is idempotent).
    pub fn abort(&mut self) {
        self.tasks.abort_all();
    }

    /// Asks every loop to stop and waits until each has finished its reconciles.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}
