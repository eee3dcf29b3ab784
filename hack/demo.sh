#!/usr/bin/env bash
# Runs workflow-share on a local control plane: builds everything (cached after the
# first run), starts etcd + kube-apiserver, installs the CRDs and workspace roles,
# applies examples/, starts the controller (with its webhook receiver on a free
# loopback port) and shows the result.
#
#   hack/demo.sh          start (or restart) the demo
#   hack/demo.sh down     stop it
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${WORKFLOW_SHARE_DEMO_DIR:-${TMPDIR:-/tmp}/workflow-share-demo}

if [ "${1:-}" = "down" ]; then
  "$root/hack/controlplane/down.sh" "$dir"
  echo "demo stopped"
  exit 0
fi
[ -d "$dir" ] && "$root/hack/controlplane/down.sh" "$dir"

echo "==> building workflow-share"
(cd "$root" && cargo build --release --quiet)
echo "==> starting etcd and kube-apiserver"
"$root/hack/controlplane/up.sh" "$dir"
export KUBECONFIG="$dir/kubeconfig"
kubectl="$dir/kubectl"

echo "==> installing CRDs, workspace roles, admission policies and the controller's RBAC"
"$root/hack/install-local.sh" "$dir"

echo "==> starting the controller (log: $dir/controller.log)"
# As its own ServiceAccount, with the chart's least-privilege RBAC. The webhook
# receiver listens on a free loopback port, chosen like the control plane's.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
webhook_addr="127.0.0.1:$(free_port)"
KUBECONFIG="$dir/controller.kubeconfig" WEBHOOK_ADDR="$webhook_addr" \
  nohup "$root/target/release/workflow-share" controller >"$dir/controller.log" 2>&1 &
echo $! >"$dir/controller.pid"

echo "==> applying examples/"
# As alice, owner of the sales workspace, so shares show who shared them.
for f in "$root"/examples/0[1-3]-*.yaml; do "$kubectl" apply --server-side -f "$f" >/dev/null; done
for f in "$root"/examples/0[4-5]-*.yaml; do "$kubectl" --context alice apply --server-side -f "$f" >/dev/null; done
# As carol, owner of support: a copy of what sales shared.
"$kubectl" --context carol apply --server-side -f "$root/examples/06-clone.yaml" >/dev/null
"$kubectl" wait --for=condition=Ready workflowshares --all -n sales --timeout=60s >/dev/null
"$kubectl" wait --for=condition=Ready workflowclones --all -n support --timeout=60s >/dev/null

echo
"$kubectl" get workflowshares,sharedworkflows -A
echo
echo "Can dave (a support member) read sales/lead-qualification?" \
  "$("$kubectl" auth can-i get workflows/lead-qualification -n sales --as dave || true)"
echo "Can frank (no workspace) read it?" \
  "$("$kubectl" auth can-i get workflows/lead-qualification -n sales --as frank || true)"

# Private by default: bob (a member of sales) creates a workflow; his teammate grace
# cannot see it until bob shares it with her.
ws="$root/target/release/workflow-share"
"$kubectl" --context bob apply --server-side -f "$root/examples/07-private-workflow.yaml" >/dev/null
"$kubectl" wait --for=jsonpath='{.status.tier}'=Private workflow/pipeline-notes -n sales --timeout=60s >/dev/null
echo
echo "bob created pipeline-notes. What grace (a sales member) sees:"
echo "\$ workflow-share get workflows -n sales --context grace"
"$ws" get workflows -n sales --context grace
"$kubectl" --context bob apply --server-side -f "$root/examples/08-people-share.yaml" >/dev/null
"$kubectl" wait --for=condition=Ready workflowshare/pipeline-notes -n sales --timeout=60s >/dev/null
"$kubectl" wait --for=jsonpath='{.status.tier}'=Shared workflow/pipeline-notes -n sales --timeout=60s >/dev/null
echo
echo "After bob shares it with grace:"
echo "\$ workflow-share get workflows -n sales --context grace"
"$ws" get workflows -n sales --context grace
echo
echo "\$ kubectl get workflows -n sales   # as admin: every tier"
"$kubectl" get workflows -n sales

# Projects and triggers are shared the same way. bob's trigger, shared with grace,
# fires every minute as bob; grace sees it but cannot edit or fire it.
# (A file that creates an object and shares it at once is accepted once the
# controller has granted the new object to its creator, a fraction of a second
# later: apply again, as a GitOps tool would.)
apply_as() {
  for _ in $(seq 1 20); do
    "$kubectl" --context "$1" apply --server-side -f "$2" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  "$kubectl" --context "$1" apply --server-side -f "$2" >/dev/null
}
apply_as bob "$root/examples/09-project.yaml"
apply_as bob "$root/examples/10-trigger.yaml"
echo
echo "bob's trigger, shared with grace. Waiting for its next fire (at most a minute)..."
"$kubectl" wait --for=jsonpath='{.status.recentFires[0].outcome}'=Created \
  trigger/pipeline-notes-every-minute -n sales --timeout=90s >/dev/null
echo "\$ workflow-share get triggers -n sales --context grace"
"$ws" get triggers -n sales --context grace
echo "\$ kubectl get workflowruns -n sales"
"$kubectl" get workflowruns -n sales
echo "\$ kubectl --context grace patch trigger pipeline-notes-every-minute -n sales --type merge -p '{\"spec\":{\"suspend\":true}}'"
"$kubectl" --context grace patch trigger pipeline-notes-every-minute -n sales --type merge \
  -p '{"spec":{"suspend":true}}' 2>&1 | sed 's/^/  /' || true

# alice's webhook trigger runs her workflow, as alice, on a request signed with the
# token of its Secret (created by the admin: the workspace roles grant no access to
# Secrets). The same delivery sent again makes no second run.
if command -v curl >/dev/null && command -v openssl >/dev/null; then
  "$kubectl" apply --server-side -f "$root/examples/12-webhook-token.yaml" >/dev/null
  apply_as alice "$root/examples/13-webhook.yaml"
  "$kubectl" wait --for=condition=Ready trigger/lead-qualification-on-push -n sales --timeout=60s >/dev/null
  path=$("$kubectl" get trigger lead-qualification-on-push -n sales -o jsonpath='{.status.webhookPath}')
  token=replace-me-with-openssl-rand-hex-32   # the token of examples/12-webhook-token.yaml
  body='{"ref":"refs/heads/main"}'
  sig=$(printf %s "$body" | openssl dgst -sha256 -hmac "$token" | sed 's/^.* //')
  # Posts the signed body with delivery id $1; prints the answer and its status code.
  # (A 404 only means the receiver has not seen the new trigger yet: asked again.)
  post_hook() {
    local out=""
    for _ in $(seq 1 20); do
      out=$(curl -sS -X POST -H "Content-Type: application/json" -H "X-Signature-256: sha256=$sig" \
        -H "X-Delivery-ID: $1" --data "$body" -w ' (HTTP %{http_code})' "http://$webhook_addr$path" 2>&1 || true)
      case "$out" in *"(HTTP 404)" | *"Couldn't connect"* | *"Failed to connect"*) sleep 0.5 ;; *) break ;; esac
    done
    echo "$out"
  }
  echo
  echo "alice's webhook trigger, fired by a signed request:"
  echo "\$ kubectl get trigger lead-qualification-on-push -n sales -o jsonpath='{.status.webhookPath}'"
  echo "$path"
  echo "\$ body='$body'"
  echo "\$ sig=\$(printf %s \"\$body\" | openssl dgst -sha256 -hmac $token | sed 's/^.* //')"
  echo "\$ curl -X POST -H \"X-Signature-256: sha256=\$sig\" -H \"X-Delivery-ID: demo-push-1\" --data \"\$body\" http://$webhook_addr$path"
  answer=$(post_hook demo-push-1)
  echo "$answer"
  run=$(printf '%s' "$answer" | sed -n 's/.*"run":"\([^"]*\)".*/\1/p')
  if [ -n "$run" ]; then
    "$kubectl" wait --for=jsonpath='{.status.phase}'=Accepted "workflowrun/$run" -n sales --timeout=60s >/dev/null || true
  fi
  echo "\$ # the same delivery again (a sender's retry):"
  post_hook demo-push-1
  echo "\$ kubectl get workflowruns -n sales -l sharing.workflows.dev/trigger=lead-qualification-on-push"
  "$kubectl" get workflowruns -n sales -l sharing.workflows.dev/trigger=lead-qualification-on-push
else
  echo
  echo "(curl or openssl not found: skipping the webhook trigger; examples/12 and 13 not applied)"
fi

# dave runs what sales shared with support for running only; the usage is support's.
"$kubectl" --context dave patch sharedworkflow sales.quarterly-forecast -n support --type merge \
  -p '{"spec":{"enabled":true}}' >/dev/null
"$kubectl" --context dave apply --server-side -f "$root/examples/11-run.yaml" >/dev/null
"$kubectl" wait --for=jsonpath='{.status.phase}'=Accepted workflowrun/forecast-now -n support --timeout=60s >/dev/null
echo
echo "\$ kubectl get workflowruns -n support -o custom-columns=..."
"$kubectl" get workflowruns -n support -o custom-columns='NAME:.metadata.name,WORKFLOW:.spec.workflowRef.name,RUN-AS:.spec.runAs,PHASE:.status.phase,WORKSPACE:.status.accountedTo.workspace,ORGANIZATION:.status.accountedTo.organization'
cat <<MSG

The control plane and the controller keep running. Try it yourself:
  export KUBECONFIG=$dir/kubeconfig PATH=$dir:\$PATH
  kubectl get workflows,workflowshares,sharedworkflows -A
  kubectl --context carol get sharedworkflows -n support
The webhook receiver: POST http://$webhook_addr<a trigger's status.webhookPath>
Stop everything with: hack/demo.sh down
MSG
