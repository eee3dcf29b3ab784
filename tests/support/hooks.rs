//! Webhook triggers as the tests use them: bob's trigger with its token Secret,
//! signed requests to it, its runs, and extra replicas serving the receiver.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use workflow_share::planner::webhook::{TOKEN_SECRET_TYPE, sign};
use workflow_share::resources::{Trigger, WorkflowRun};

use super::*;

/// A trigger reached through the receiver: where, and with which token.
#[derive(Clone)]
pub struct Hook {
    pub ns: String,
    pub name: String,
    pub path: String,
    pub token: Vec<u8>,
}

impl Hook {
    /// Posts `body` signed with `token` (GitHub's headers when `github`).
    pub fn post_signed(
        &self,
        port: u16,
        token: &[u8],
        body: &[u8],
        delivery: Option<&str>,
    ) -> (u16, String) {
        let signature = sign(token, body);
        let mut headers = vec![("X-Signature-256", signature.as_str())];
        if let Some(id) = delivery {
            headers.push(("X-Delivery-ID", id));
        }
        http_post(port, &self.path, &headers, body)
    }

    pub fn post(&self, port: u16, body: &[u8], delivery: Option<&str>) -> (u16, String) {
        self.post_signed(port, &self.token, body, delivery)
    }
}

pub fn run_of(answer: &str) -> String {
    let body: serde_json::Value = serde_json::from_str(answer).expect("a JSON answer");
    body["run"].as_str().expect("the run's name").to_string()
}

/// The Secret `name` of the webhook-token type with these keys, created by `client`.
pub async fn token_secret(client: &kube::Client, ns: &str, name: &str, keys: &[(&str, &[u8])]) {
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        type_: Some(TOKEN_SECRET_TYPE.into()),
        data: Some(
            keys.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                .collect(),
        ),
        ..Default::default()
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &secret)
        .await
        .expect("token Secret");
}

/// An organization with the workspace `ns`, where bob (a member, who may also
/// manage Secrets there, as a namespace admin would let him) makes the workflow
/// `deploy`, the token Secret `hook-token` and the webhook trigger `name`
/// (changed by `customize`).
pub async fn bobs_hook(
    cp: &ControlPlane,
    ns: &str,
    name: &str,
    customize: impl FnOnce(Builder<Trigger>) -> Builder<Trigger>,
    token: &[u8],
) -> Hook {
    let admin = cp.admin().await;
    let setup = organization(&format!("{ns}-org"), &[ns])
        .and(member(ns, "member", "bob"))
        .and(member(ns, "member", "grace"));
    apply(&admin, &setup).await.expect("organization");
    let secrets = rule(&[""], &["secrets"], &["create", "patch", "delete"]);
    Api::<k8s_openapi::api::rbac::v1::Role>::namespaced(admin.clone(), ns)
        .create(
            &PostParams::default(),
            &role(ns, "secret-writer", vec![secrets]),
        )
        .await
        .expect("role");
    let binding = role_binding(ns, "bob-secrets", role_ref("Role", "secret-writer")).user("bob");
    apply(&admin, &binding).await.expect("binding");
    let bob = cp.as_user("bob").await;
    token_secret(&bob, ns, "hook-token", &[("token", token)]).await;
    let hook = customize(trigger(ns, name).webhook().workflow("deploy"));
    apply(&bob, &workflow(ns, "deploy").and(hook))
        .await
        .expect("bob's workflow and trigger");
    wait_for_path(&admin, ns, name, token).await
}

/// Waits until the trigger has its path and is listening (its Secret is cached).
pub async fn wait_for_path(admin: &kube::Client, ns: &str, name: &str, token: &[u8]) -> Hook {
    wait_for_ready(admin, ns, name, token, "Listening").await
}

/// Waits until the trigger has its path and its Ready condition has `reason`.
pub async fn wait_for_ready(
    admin: &kube::Client,
    ns: &str,
    name: &str,
    token: &[u8],
    reason: &str,
) -> Hook {
    let triggers: Api<Trigger> = Api::namespaced(admin.clone(), ns);
    let path = eventually(
        &format!("the trigger has its path, {reason}"),
        WAIT,
        || async {
            let status = triggers.get(name).await.ok()?.status?;
            let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
            (ready.reason == reason).then_some(status.webhook_path?)
        },
    )
    .await;
    Hook {
        ns: ns.into(),
        name: name.into(),
        path,
        token: token.to_vec(),
    }
}

pub async fn runs_of(admin: &kube::Client, hook: &Hook) -> Vec<WorkflowRun> {
    let runs: Api<WorkflowRun> = Api::namespaced(admin.clone(), &hook.ns);
    let label = format!("sharing.workflows.dev/trigger={}", hook.name);
    runs.list(&ListParams::default().labels(&label))
        .await
        .expect("runs")
        .items
}

pub fn base64(text: &str) -> String {
    let value = serde_json::to_value(ByteString(text.as_bytes().to_vec())).expect("bytes");
    value.as_str().expect("base64").to_string()
}

/// Starts one more replica (a standby: the harness's controller leads) serving the
/// receiver on its own port; returns it and that port.
pub fn replica(cp: &ControlPlane, name: &str) -> (std::process::Child, u16) {
    let (metrics, webhooks) = (free_port(), free_port());
    let addr = format!("127.0.0.1:{webhooks}");
    let child = cp.spawn_controller(name, metrics, &[("WEBHOOK_ADDR", &addr)]);
    assert!(!leads(metrics), "{name} stands by");
    (child, webhooks)
}

pub fn stop(mut replica: std::process::Child) {
    let _ = replica.kill();
    let _ = replica.wait();
}
