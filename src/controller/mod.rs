//! The controller: caches of everything the planner reads, and seven kube-runtime
//! Controllers over them, run while this replica leads.
//!
//! 1. Watch (client required): `watches` starts a watch of every kind the planner
//!    reads and wires what each change wakes (the planner's `wakeups` decides).
//! 2. Lead (client required): with the caches filled, a replica waits for the
//!    leader Lease (`runtime::leader`); a standby reconciles nothing.
//! 3. Reconcile: each kind's controller is built in its own module and started
//!    here. A sync gathers facts (client required), asks the planner (no client
//!    required), applies the answer and reports (client required).
//!    - `sharing`: the workflow and share controllers, one sync per workflow;
//!    - `projects`, `triggers`: who may see them (`visibility`), and trigger fires;
//!    - `clones`, `runs`, `organizations`: one controller each;
//!    - `sweep`: what was made for deleted objects goes with them.
//!    - `webhooks` (every replica, leading or not): the receiver that fires
//!      Webhook and AppEvent triggers on signed requests.
//! 4. Stop: on SIGTERM every controller finishes the reconciles it runs and the
//!    Lease is released; any loop or watch ending on its own fails the process.

mod clones;
mod context;
mod organizations;
mod projects;
mod runs;
pub mod sharing;
mod sweep;
mod triggers;
mod visibility;
mod watches;
mod webhooks;

use std::sync::Arc;

use tracing::{error, info};

pub use context::{Clients, Context, Options, Stores};
pub use sharing::sync::sync_workflow;

use crate::error::Error;
use crate::metrics::{self, Health, Metrics};
use crate::runtime::controllers::Loops;
use crate::runtime::own_writes::OwnWrites;
use crate::runtime::watch::Watches;
use crate::runtime::{leader, supervise};

/// Runs the controllers until SIGTERM or Ctrl-C. Returns an error (the process
/// exits non-zero) as soon as any controller loop or watch stops on its own.
pub async fn run(clients: Clients, options: Options) -> anyhow::Result<()> {
    let client = clients.watches.clone();
    let own_writes = Arc::new(OwnWrites::default());
    let mut watches = Watches::new(own_writes.clone());
    let (stores, reactions, queues) =
        watches::start(&client, &mut watches, options.webhook_addr.is_some());
    let metrics = Arc::new(Metrics::default());
    let mut background = watches.take_tasks();
    background.spawn(metrics::serve_until_failed(
        options.metrics_addr,
        metrics.clone(),
    ));
    let receiver_ctx = options.webhook_addr.map(|addr| {
        // The receiver's own connections: a delivery never waits for a request slot.
        let own = Clients {
            requests: clients.watches.clone(),
            ..clients.clone()
        };
        let (instance, namespace) = (options.instance.clone(), options.namespace.clone());
        let decisions = reactions.decisions.clone();
        let ctx = Context::new(
            &own,
            stores.clone(),
            decisions,
            own_writes.clone(),
            instance,
            namespace,
            metrics.clone(),
        );
        (addr, Arc::new(ctx))
    });
    let ctx = Arc::new(Context::new(
        &clients,
        stores,
        reactions.decisions.clone(),
        own_writes,
        options.instance,
        options.namespace,
        metrics,
    ));
    tokio::select! {
        ready = watches.all_ready() => ready.map_err(|_| Error::StoresClosed)?,
        Some(ended) = background.join_next() => return Err(supervise::failed(&ctx.metrics, ended)),
        () = supervise::shutdown_signal() => return Ok(()),
    }
    // Every replica receives webhooks once its caches are filled, leading or not.
    if let Some((addr, receiver_ctx)) = receiver_ctx {
        background.spawn(webhooks::serve_until_failed(addr, receiver_ctx));
        info!(%addr, "webhook receiver listening");
    }

    // With the caches filled, wait to lead: a standby replica is ready (it could take
    // over at once) but reconciles nothing.
    let mut election = match &options.lease {
        Some(lease) => Some(leader::Election::start(client.clone(), lease).await?),
        None => None,
    };
    if let Some(candidate) = election.as_mut() {
        ctx.metrics.set_health(Health::Standby);
        info!("caches filled; waiting for the leader Lease");
        let stop = tokio::select! {
            leading = candidate.until_leading() => { leading?; false }
            Some(ended) = background.join_next() => return Err(supervise::failed(&ctx.metrics, ended)),
            () = supervise::shutdown_signal() => true,
        };
        if stop {
            if let Some(candidate) = election {
                candidate.release().await;
            }
            return Ok(());
        }
        info!("leading: starting the controllers");
    }
    ctx.metrics.leader.set(1);

    let mut loops = start_controllers(&ctx, &client, queues, reactions.sweeper);
    ctx.metrics.set_health(Health::Running);
    info!("caches filled; controller started");

    tokio::select! {
        Some(ended) = loops.ended() => return Err(supervise::failed(&ctx.metrics, ended)),
        Some(ended) = background.join_next() => return Err(supervise::failed(&ctx.metrics, ended)),
        () = leader::lost(election.as_mut()) => {
            // Another replica may be reconciling already: stop at once, mid-reconcile
            // if need be (every write is idempotent), and exit so that this replica
            // restarts as a candidate.
            loops.abort();
            ctx.metrics.leader.set(0);
            ctx.metrics.set_health(Health::Failed);
            error!("lost the leader Lease; stopped reconciling, exiting");
            return Err(anyhow::anyhow!("lost the leader Lease"));
        }
        () = supervise::shutdown_signal() => {}
    }
    ctx.metrics.set_health(Health::Stopping);
    info!("stopping: finishing the reconciles in progress");
    loops.stop().await;
    if let Some(election) = election {
        election.release().await;
        info!("released the leader Lease");
    }
    ctx.metrics.leader.set(0);
    background.abort_all();
    info!(writes = ctx.metrics.total_writes(), "controller stopped");
    Ok(())
}

/// Starts every kind's controller, and the sweep, each woken by its queue.
fn start_controllers(
    ctx: &Arc<Context>,
    client: &kube::Client,
    queues: watches::Queues,
    sweeper: Arc<sweep::Sweeper>,
) -> Loops {
    let (project_audience, trigger_audience) =
        (queues.audience_changes(), queues.audience_changes());
    let mut loops = Loops::default();
    sharing::workflows::start(&mut loops, ctx, queues.workflow_syncs, queues.share_syncs);
    clones::start(&mut loops, ctx, client, queues.entries);
    organizations::start(&mut loops, ctx, client);
    let (changes, named) = (queues.project_changes, queues.projects);
    projects::start(&mut loops, ctx, changes, named, project_audience);
    let (changes, named) = (queues.trigger_changes, queues.triggers);
    triggers::start(&mut loops, ctx, changes, named, trigger_audience);
    runs::start(&mut loops, ctx, client);
    loops.spawn_task("deleted-object sweep", sweep::run(ctx.clone(), sweeper));
    loops
}
