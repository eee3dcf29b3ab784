// No unwrap or expect where a cluster can reach (see lib.rs).
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use workflow_share::{controller, diff, manifests, planner, resources, runtime, visible};

// jemalloc: a burst's freed memory is reused and returned to the system; glibc's
// per-thread arenas kept it (a converged controller stayed near its burst peak).
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Declarative sharing of workflows across the workspaces of an organization.
#[derive(Parser)]
#[command(
    name = "workflow-share",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("WORKFLOW_SHARE_COMMIT"), ")"),
    after_help = "Exit status: 0 success; 1 failure (diff: 1 means there are changes, 2 failure).\n\nExamples:\n  workflow-share controller\n  workflow-share get workflows -n sales --context dave\n  workflow-share plan -f examples/\n  workflow-share diff -f shares/ -o json\n  workflow-share crd | kubectl apply --server-side -f -"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller against the cluster of the current kubeconfig or service account.
    Controller {
        /// Name reported on Events (defaults to the pod name or host name).
        #[arg(long, env = "POD_NAME")]
        instance: Option<String>,
        /// Log as JSON lines.
        #[arg(long, env = "LOG_JSON")]
        log_json: bool,
        /// Listen address of /metrics, /healthz and /readyz.
        #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
        metrics_addr: std::net::SocketAddr,
        /// Listen address of the webhook receiver, which fires Webhook and AppEvent
        /// triggers on signed requests (plain HTTP: put TLS in front, an Ingress).
        /// Unset, no receiver is served and no Secret is watched.
        #[arg(long, env = "WEBHOOK_ADDR")]
        webhook_addr: Option<std::net::SocketAddr>,
        /// Run without leader election (only ever one replica).
        #[arg(long, env = "NO_LEADER_ELECTION")]
        no_leader_election: bool,
        /// The controller's namespace (the pod's in a cluster): its leader Lease, and
        /// the identity the who-may-share check asks which objects exist.
        #[arg(long, env = "POD_NAMESPACE", default_value = "workflow-share-system")]
        lease_namespace: String,
        /// Name of the leader Lease.
        #[arg(long, env = "LEASE_NAME", default_value = "workflow-share")]
        lease_name: String,
        /// Seconds a leader that stops renewing keeps the Lease (the longest hand-over).
        #[arg(long, env = "LEASE_DURATION_SECONDS", default_value_t = 15)]
        lease_duration_seconds: u64,
        /// Most API requests the reconcilers have in flight at once (watches not
        /// counted). More does not write faster once the API server is busy; it only
        /// costs connections and memory on both sides.
        #[arg(long, env = "MAX_REQUESTS_IN_FLIGHT", default_value_t = 64,
              value_parser = clap::value_parser!(u16).range(1..))]
        max_requests_in_flight: u16,
        /// Most workflow syncs at once (0: no bound). A bound holds fewer plans in
        /// memory during a burst, and makes a burst slower.
        #[arg(long, env = "MAX_CONCURRENT_SYNCS", default_value_t = 0)]
        max_concurrent_syncs: u16,
    },
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// List the workflows, projects or triggers you may see (Kubernetes cannot filter
    /// `kubectl get` by object): a kubectl-style table with their tier. Uses your
    /// kubeconfig only.
    #[command(
        after_help = "Examples:\n  workflow-share get workflows -n sales\n  workflow-share get triggers -A -o wide\n  workflow-share get projects -n sales --context dave -o yaml"
    )]
    Get {
        /// What to list.
        #[arg(value_parser = ["workflows", "workflow", "wf", "projects", "project", "pj", "triggers", "trigger", "trg"])]
        kind: String,
        /// Namespace (default: the context's namespace).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Every namespace you may list.
        #[arg(short = 'A', long = "all-namespaces", conflicts_with = "namespace")]
        all_namespaces: bool,
        /// Output format.
        #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "wide", "yaml", "json"])]
        output: String,
        /// kubeconfig context to use.
        #[arg(long)]
        context: Option<String>,
    },
    /// Against the live cluster: what applying these WorkflowShares (and Workflows)
    /// would grant, keep and remove. Exit status 0: no change; 1: changes; 2: error.
    ///
    /// Example: workflow-share diff -f shares/ -o json
    Diff {
        /// Files or directories of YAML manifests.
        #[arg(short = 'f', long = "filename", required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
        output: String,
        /// kubeconfig context to use.
        #[arg(long)]
        context: Option<String>,
    },
    /// Offline: read manifests from files or directories and print the grants they imply.
    Plan {
        /// Files or directories of YAML manifests (Organizations, Namespaces,
        /// ClusterRoles, RoleBindings, Workflows, WorkflowShares).
        #[arg(short = 'f', long = "filename", required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "yaml", "json"])]
        output: String,
    },
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Panics go to the log (JSON when asked) with where they happened, instead of raw
/// stderr; the controller contains them per object or exits, see `controller::run`.
fn install_panic_logger() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = workflow_share::runtime::supervise::panic_message(info.payload());
        tracing::error!(%location, %message, "panic");
    }));
}

/// Writes to stdout; a closed pipe (`workflow-share get … | head`) ends the program
/// quietly instead of panicking, as other command-line tools do.
fn emit_str(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("Error: writing the output: {e}");
        std::process::exit(1);
    }
}

macro_rules! emit {
    ($($arg:tt)*) => { emit_str(&format!($($arg)*)) };
}

macro_rules! emitln {
    ($($arg:tt)*) => { emit_str(&format!("{}\n", format!($($arg)*))) };
}

/// A client for the caller's kubeconfig (an explicit context, or the current one).
async fn client_for(context: Option<String>) -> anyhow::Result<(kube::Client, String)> {
    let options = kube::config::KubeConfigOptions {
        context,
        ..Default::default()
    };
    let config = kube::Config::from_kubeconfig(&options)
        .await
        .context("reading the kubeconfig (set KUBECONFIG or use --context)")?;
    let namespace = config.default_namespace.clone();
    Ok((
        kube::Client::try_from(config).context("building the client")?,
        namespace,
    ))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `diff` follows kubectl diff: 1 means "there are changes", so errors are 2.
    let error_code = if matches!(cli.command, Command::Diff { .. }) {
        2
    } else {
        1
    };
    match run(cli).await {
        Ok(code) => std::process::ExitCode::from(code),
        Err(error) => {
            eprintln!("Error: {error:#}");
            std::process::ExitCode::from(error_code)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Diff {
            paths,
            output,
            context,
        } => {
            let files = manifests::load_snapshot(&paths)?;
            let (client, _) = client_for(context).await?;
            let live = diff::live_snapshot(&client).await?;
            let (desired, shares) = diff::overlay(&live, &files);
            let lines = diff::compare(&live, &desired, &shares);
            if output == "json" {
                emitln!("{}", serde_json::to_string_pretty(&lines)?);
            } else {
                emit!("{}", diff::render(&lines));
            }
            return Ok(u8::from(diff::changes(&lines)));
        }
        Command::Crd => {
            emit!("{}", resources::crds_yaml().context("rendering CRDs")?);
        }
        Command::Get {
            kind,
            namespace,
            all_namespaces,
            output,
            context,
        } => {
            let (client, default_namespace) = client_for(context).await?;
            let scope = if all_namespaces {
                visible::Scope::AllNamespaces
            } else {
                visible::Scope::Namespace(namespace.unwrap_or(default_namespace))
            };
            let wide = output == "wide";
            let structured = matches!(output.as_str(), "yaml" | "json");
            let now = jiff::Timestamp::now();
            let (table, items) = match kind.as_str() {
                "projects" | "project" | "pj" => {
                    let found = visible::visible::<resources::Project>(&client, &scope).await?;
                    (
                        visible::table(&found, all_namespaces, wide, now),
                        serde_json::to_value(&found)?,
                    )
                }
                "triggers" | "trigger" | "trg" => {
                    let found = visible::visible::<resources::Trigger>(&client, &scope).await?;
                    (
                        visible::table(&found, all_namespaces, wide, now),
                        serde_json::to_value(&found)?,
                    )
                }
                _ => {
                    let found = visible::visible::<resources::Workflow>(&client, &scope).await?;
                    (
                        visible::table(&found, all_namespaces, wide, now),
                        serde_json::to_value(&found)?,
                    )
                }
            };
            if structured {
                let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
                if output == "json" {
                    emitln!("{}", serde_json::to_string_pretty(&list)?);
                } else {
                    emit!("{}", serde_yaml::to_string(&list)?);
                }
            } else {
                emit!("{table}");
            }
        }
        Command::Plan { paths, output } => {
            let snapshot = manifests::load_snapshot(&paths)?;
            let now = resources::condition::now_rfc3339();
            let plans = snapshot.plan_all(&now);
            match output.as_str() {
                "yaml" => emit!(
                    "{}",
                    serde_yaml::to_string(&manifests::plans_value(&plans))?
                ),
                "json" => emitln!(
                    "{}",
                    serde_json::to_string_pretty(&manifests::plans_value(&plans))?
                ),
                _ => {
                    let readers =
                        planner::organization_readers_of_plans(&snapshot.directory(), &plans);
                    emit!("{}", manifests::plans_table(&plans, &readers))
                }
            }
        }
        Command::Controller {
            instance,
            log_json,
            metrics_addr,
            webhook_addr,
            no_leader_election,
            lease_namespace,
            lease_name,
            lease_duration_seconds,
            max_requests_in_flight,
            max_concurrent_syncs,
        } => {
            init_tracing(log_json);
            let instance = instance
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| "workflow-share".to_string());
            let config = kube::Config::infer()
                .await
                .context("connecting to the cluster (kubeconfig or in-cluster service account)")?;
            let mut clients = controller::Clients::new(config, max_requests_in_flight.into())
                .context("building the clients")?;
            clients.max_concurrent_syncs = max_concurrent_syncs;
            install_panic_logger();
            controller::run(
                clients,
                controller::Options {
                    // The pod name is unique per replica; outside a cluster two
                    // controllers may share a host name, so the process id is added.
                    lease: (!no_leader_election).then(|| runtime::leader::LeaseOptions {
                        namespace: lease_namespace.clone(),
                        name: lease_name,
                        identity: format!("{instance}_{}", std::process::id()),
                        duration_seconds: lease_duration_seconds,
                    }),
                    instance,
                    metrics_addr,
                    webhook_addr,
                    namespace: lease_namespace,
                },
            )
            .await?;
        }
    }
    Ok(0)
}
