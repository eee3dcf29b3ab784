//! Integration-test harness: one real etcd + kube-apiserver (hack/controlplane/up.sh)
//! and one controller process per test binary; each test works in its own
//! organization and namespaces. The objects the tests send are built in `builders`.
#![allow(dead_code)]

mod builders;
mod entries;
mod hooks;
mod http;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{ApiResource, Scope};
use kube::{Client, Config, ResourceExt};

pub use builders::*;
#[allow(unused_imports)]
pub use entries::*;
#[allow(unused_imports)]
pub use hooks::*;
#[allow(unused_imports)]
pub use http::*;

pub struct ControlPlane {
    pub dir: PathBuf,
    pub metrics_port: u16,
    /// Where the harness's controller serves the webhook receiver.
    pub webhook_port: u16,
    controller: std::sync::Mutex<Option<std::process::Child>>,
    /// Extra environment of every controller this harness starts (fault hooks).
    controller_env: Vec<(String, String)>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

static CONTROL_PLANE: OnceLock<ControlPlane> = OnceLock::new();

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
}

/// Starts (once per test binary) the control plane, installs the CRDs and the
/// chart's workspace roles, and starts the controller binary against it.
pub fn control_plane() -> &'static ControlPlane {
    control_plane_with_env(&[])
}

/// Like `control_plane`, with extra environment for the controller (the first call
/// of a test binary decides).
pub fn control_plane_with_env(env: &[(&str, &str)]) -> &'static ControlPlane {
    CONTROL_PLANE.get_or_init(|| {
        // Each attempt has its own directory, and a failed start is torn down (below):
        // a later test then starts afresh instead of meeting the first attempt's etcd
        // still holding its data directory.
        let attempt = START_ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "workflow-share-test-{}-{attempt}",
            std::process::id()
        ));
        let started = TearDownUnlessStarted(dir.clone());
        run(Command::new(repo().join("hack/controlplane/up.sh"))
            .arg(&dir)
            .arg("--watch-pid")
            .arg(std::process::id().to_string()));
        run(Command::new(repo().join("hack/install-local.sh")).arg(&dir));
        let metrics_port = free_port();
        let cp = ControlPlane {
            dir,
            metrics_port,
            webhook_port: free_port(),
            controller: std::sync::Mutex::new(None),
            controller_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        cp.start_controller();
        std::mem::forget(started);
        cp
    })
}

static START_ATTEMPTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Dropped while a start panics: prints the components' last log lines (the panic
/// says only which step failed) and stops whatever was started.
struct TearDownUnlessStarted(PathBuf);

impl Drop for TearDownUnlessStarted {
    fn drop(&mut self) {
        let logs: Vec<PathBuf> = ["etcd", "apiserver", "controller-manager", "controller"]
            .iter()
            .map(|name| self.0.join(format!("{name}.log")))
            .filter(|log| log.exists())
            .collect();
        if !logs.is_empty() {
            let _ = Command::new("tail").args(["-n", "30"]).args(&logs).status();
        }
        let _ = Command::new(repo().join("hack/controlplane/down.sh"))
            .arg(&self.0)
            .status();
    }
}

impl ControlPlane {
    /// Starts the controller binary as its ServiceAccount; waits until its caches are
    /// filled and it leads (holds the leader Lease).
    pub fn start_controller(&self) {
        self.start_controller_standby();
        let start = std::time::Instant::now();
        while !self.leads() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "controller did not lead in 30s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the controller without waiting for it to lead (another replica may).
    pub fn start_controller_standby(&self) {
        let webhooks = format!("127.0.0.1:{}", self.webhook_port);
        let env = [("WEBHOOK_ADDR", webhooks.as_str())];
        let child = self.spawn_controller("controller", self.metrics_port, &env);
        *self.controller.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
    }

    /// Whether the harness's controller holds the leader Lease.
    pub fn leads(&self) -> bool {
        leads(self.metrics_port)
    }

    /// Starts one more controller process (its own log `<name>.log`, its own metrics
    /// port and extra environment) and waits until it is ready. The caller owns it.
    pub fn spawn_controller(
        &self,
        name: &str,
        metrics_port: u16,
        env: &[(&str, &str)],
    ) -> std::process::Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{name}.log")))
            .expect("log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_workflow-share"));
        command
            .arg("controller")
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .env("KUBECONFIG", self.dir.join("controller.kubeconfig"))
            .env("RUST_LOG", "info,workflow_share=debug")
            // A crashed leader's Lease expires in 4 s, so restarts in tests are quick.
            .env("LEASE_DURATION_SECONDS", "4")
            .envs(self.controller_env.iter().map(|(k, v)| (k, v)))
            .envs(env.iter().copied())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let child = command.spawn().expect("start controller");
        // down.sh (run by the reaper when this process exits) stops every *.pid in dir.
        std::fs::write(self.dir.join(format!("{name}.pid")), child.id().to_string())
            .expect("pid file");
        let start = std::time::Instant::now();
        while http_get(metrics_port, "/readyz").is_none_or(|r| !r.starts_with("HTTP/1.1 200")) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "controller {name} not ready in 30s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// The value of one counter or gauge series of the running controller, by its
    /// exposition prefix (name and labels), e.g. `workflow_share_syncs_total`.
    pub fn metric(&self, series: &str) -> f64 {
        metric_at(self.metrics_port, series)
    }

    /// Stops the controller: gracefully (SIGTERM) or as a crash (SIGKILL).
    pub fn stop_controller(&self, crash: bool) {
        let child = self
            .controller
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut child) = child {
            let signal = if crash { "-KILL" } else { "-TERM" };
            run(Command::new("kill").arg(signal).arg(child.id().to_string()));
            child.wait().expect("controller exit");
        }
    }

    /// Writes the running controller has sent since it started (its metric).
    pub fn controller_writes(&self) -> u64 {
        writes_at(self.metrics_port)
    }

    async fn config(&self, context: &str) -> Config {
        let kubeconfig = Kubeconfig::read_from(self.dir.join("kubeconfig")).expect("kubeconfig");
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .expect("config")
    }

    pub async fn admin(&self) -> Client {
        Client::try_from(self.config("admin").await).expect("client")
    }

    /// A client authenticated with the static token of a test user (alice, bob, carol, dave, erin, frank).
    pub async fn as_user(&self, user: &str) -> Client {
        Client::try_from(self.config(user).await).expect("client")
    }

    /// A client that impersonates any user (and groups), through the admin.
    pub async fn impersonating(&self, user: &str, groups: &[&str]) -> Client {
        let mut config = self.config("admin").await;
        config.auth_info.impersonate = Some(user.to_string());
        config.auth_info.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
        Client::try_from(config).expect("client")
    }
}

/// The workspace `namespace` leaves its organization: an admin removes its label.
pub async fn leave_organization(admin: &Client, namespace: &str) {
    Api::<k8s_openapi::api::core::v1::Namespace>::all(admin.clone())
        .patch(
            namespace,
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"metadata": {"labels": {"sharing.workflows.dev/organization": null}}}),
            ),
        )
        .await
        .expect("leave the organization");
}

/// The API of the kind of `obj` (a parsed manifest), in its namespace if it has one.
pub async fn object_api(
    client: &Client,
    obj: &DynamicObject,
) -> Result<Api<DynamicObject>, kube::Error> {
    let gvk = obj
        .types
        .as_ref()
        .map(kube::api::GroupVersionKind::try_from)
        .expect("typed")
        .expect("gvk");
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk).await?;
    Ok(match (caps.scope, obj.namespace()) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), &ns, &ar),
        _ => Api::all_with(client.clone(), &ar),
    })
}

/// Applies multi-document YAML with server-side apply as `client`: for input the
/// types cannot express (malformed or hostile); everything else goes through `apply`.
pub async fn apply_yaml(client: &Client, yaml: &str) -> Result<(), kube::Error> {
    for doc in yaml.split("\n---\n").filter(|d| !d.trim().is_empty()) {
        let obj: DynamicObject = serde_yaml::from_str(doc).expect("valid test YAML");
        object_api(client, &obj)
            .await?
            .patch(
                &obj.name_any(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&obj),
            )
            .await?;
    }
    Ok(())
}

/// Builds (once, cached outside the clone) a test tool from its Go module with
/// `hack/<tool>/build.sh` and returns the binary's path.
pub fn built_tool(tool: &str) -> PathBuf {
    let out = Command::new(repo().join("hack").join(tool).join("build.sh"))
        .output()
        .unwrap_or_else(|e| panic!("hack/{tool}/build.sh: {e}"));
    assert!(
        out.status.success(),
        "hack/{tool}/build.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

pub fn api_resource<K: kube::Resource<DynamicType = ()>>() -> ApiResource {
    ApiResource::erase::<K>(&())
}

fn attributes(
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
    name: Option<&str>,
) -> ResourceAttributes {
    ResourceAttributes {
        verb: Some(verb.into()),
        group: Some(group.into()),
        resource: Some(resource.into()),
        namespace: Some(namespace.into()),
        name: name.map(Into::into),
        ..Default::default()
    }
}

/// `kubectl auth can-i VERB RESOURCE/NAME -n NS` as the client's user.
pub async fn can_i(
    client: &Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
    name: Option<&str>,
) -> bool {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(attributes(verb, group, resource, namespace, name)),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let answer = api
        .create(&PostParams::default(), &review)
        .await
        .expect("access review");
    answer.status.map(|s| s.allowed).unwrap_or(false)
}

/// Polls `check` until it returns Some or `timeout` passes; panics with `what` on timeout.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the SharedWorkflow `name` exists in `ns`.
pub async fn entry_exists(client: &Client, ns: &str, name: &str) -> bool {
    let api: Api<workflow_share::resources::SharedWorkflow> = Api::namespaced(client.clone(), ns);
    api.get_opt(name)
        .await
        .expect("get SharedWorkflow")
        .is_some()
}

pub const WAIT: Duration = Duration::from_secs(20);

/// `kubectl auth can-i VERB RESOURCE/NAME -n NS --as USER`, asked by `admin` with a
/// SubjectAccessReview: for subjects that have no token here (any Unicode name).
pub async fn can_user(
    admin: &Client,
    user: &str,
    verb: &str,
    resource: &str,
    namespace: &str,
    name: Option<&str>,
) -> bool {
    use k8s_openapi::api::authorization::v1::{SubjectAccessReview, SubjectAccessReviewSpec};
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            resource_attributes: Some(attributes(
                verb,
                "sharing.workflows.dev",
                resource,
                namespace,
                name,
            )),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(admin.clone());
    let answer = api
        .create(&PostParams::default(), &review)
        .await
        .expect("access review");
    answer.status.map(|s| s.allowed).unwrap_or(false)
}

/// The name `yamada`'s token authenticates as (see hack/controlplane/up.sh): long,
/// in 2-, 3- and 4-byte UTF-8.
pub fn yamada_name() -> String {
    ["山田太郎 Zoë Ångström 𝓐𝓵𝓲𝓬𝓮"; 8].join(" ")
}

/// Events in `ns` with `reason` about the object named `regarding`.
pub async fn events_about(
    admin: &Client,
    ns: &str,
    reason: &str,
    regarding: &str,
) -> Vec<k8s_openapi::api::events::v1::Event> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(admin.clone(), ns);
    // A failed list is not "no Events": right after an API server or etcd restart a
    // list can fail for a moment, so ask again rather than count nothing.
    let items = eventually(
        &format!("Events in {ns} listed"),
        Duration::from_secs(30),
        || async {
            match api.list(&Default::default()).await {
                Ok(list) => Some(list.items),
                Err(error) => {
                    println!("listing Events in {ns}: {error}");
                    None
                }
            }
        },
    )
    .await;
    items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(regarding))
        .collect()
}

/// Waits until `client` may (`may: true`) or may no longer (`may: false`) `verb` the
/// sharing resource `resource`/`name` in `namespace`, asked as that user.
pub async fn until_may(
    client: &Client,
    may: bool,
    verb: &str,
    resource: &str,
    namespace: &str,
    name: Option<&str>,
) {
    let what = format!(
        "{verb} {resource}/{} in {namespace} {}",
        name.unwrap_or("*"),
        if may { "allowed" } else { "refused" }
    );
    eventually(&what, WAIT, || async {
        (can_i(
            client,
            verb,
            "sharing.workflows.dev",
            resource,
            namespace,
            name,
        )
        .await
            == may)
            .then_some(())
    })
    .await;
}

/// The phase and reason a WorkflowRun was decided with, once it is not Pending.
pub async fn run_decided(
    admin: &Client,
    namespace: &str,
    run: &str,
) -> (workflow_share::resources::RunPhase, String) {
    let api: Api<workflow_share::resources::WorkflowRun> =
        Api::namespaced(admin.clone(), namespace);
    eventually(&format!("run {namespace}/{run} decided"), WAIT, || async {
        let status = api.get(run).await.ok()?.status?;
        (status.phase != workflow_share::resources::RunPhase::Pending)
            .then_some((status.phase, status.reason))
    })
    .await
}

/// Deletes a shared workflow as `creator` in the moment before its status records
/// the share, the race deletion protection cannot see: the status the policy reads
/// is cleared by `admin` and the delete sent right after, until one gets through.
pub async fn delete_before_the_share_is_recorded(
    admin: &Client,
    creator: &Client,
    namespace: &str,
    name: &str,
) {
    let statuses: Api<workflow_share::resources::Workflow> =
        Api::namespaced(admin.clone(), namespace);
    let workflows: Api<workflow_share::resources::Workflow> =
        Api::namespaced(creator.clone(), namespace);
    eventually("deleted in the race", WAIT, || async {
        statuses
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"status": {"shares": []}})),
            )
            .await
            .ok()?;
        workflows
            .delete(name, &kube::api::DeleteParams::default())
            .await
            .ok()
    })
    .await;
}

/// Waits until the API server's who-may-share check knows that `name` (a `K`) exists:
/// its status names its creator, which the controller writes only after listing it.
/// Until then a share of it is admitted and decided by the controller instead.
pub async fn until_known<K: kube::Resource<DynamicType = ()>>(
    admin: &Client,
    ns: &str,
    name: &str,
) {
    let api: Api<DynamicObject> = Api::namespaced_with(admin.clone(), ns, &api_resource::<K>());
    eventually(
        &format!("{} {ns}/{name} known to the API server", K::kind(&())),
        Duration::from_secs(30),
        || async {
            let obj = api.get(name).await.ok()?;
            obj.data.get("status")?.get("creator")?.as_str().map(|_| ())
        },
    )
    .await;
}
