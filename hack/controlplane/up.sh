#!/usr/bin/env bash
# Starts a real etcd, kube-apiserver (RBAC on) and kube-controller-manager on free
# loopback ports. The controller-manager runs what gives deletion its real meaning:
# the garbage collector (owner references), the namespace controller (a deleted
# namespace's contents are deleted, then the namespace) and the ServiceAccount
# controllers, each with its own ServiceAccount's credentials as in a cluster.
#
#   hack/controlplane/up.sh DIR [--watch-pid PID]
#
# DIR receives the certificates, the token file, the data, the logs, `kubeconfig`
# (admin context plus one context per test user) and `env` (KUBECONFIG, PATH with
# the matching kubectl). With --watch-pid the control plane stops by itself when PID
# exits (test binaries use their own pid). Stop it with hack/controlplane/down.sh DIR.
#
# With WORKFLOW_SHARE_NODE_IP set (hack/cluster/up.sh sets it), the API server also
# serves on that address for a node's pods (its certificate names the `kubernetes`
# Service IP), authorizes nodes, mounts ServiceAccount tokens into pods, and the
# controller-manager runs every controller a cluster runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
node_ip=${WORKFLOW_SHARE_NODE_IP:-}
dir=${1:?usage: up.sh DIR [--watch-pid PID]}
watch_pid=${3:-}
[ "${2:-}" = "--watch-pid" ] || watch_pid=""
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=$("$here/build.sh")
log() { echo "controlplane: $*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)

# --- credentials -------------------------------------------------------------
pki="$dir/pki"; mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=workflow-share-test-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
san="IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc"
[ -z "$node_ip" ] || san+=",IP:$node_ip,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default"
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >"$pki/san.ext"
openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
  -days 365 -extfile "$pki/san.ext" -out "$pki/apiserver.crt" 2>/dev/null
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null

# Static bearer tokens: token,user,uid,"groups". Test users carry the groups
# the integration tests bind; anyone else is reached by impersonation. yamada's
# user name is long and in 2-, 3- and 4-byte UTF-8, as identity providers send.
users=(admin alice bob carol dave erin frank grace yamada)
yamada_name="山田太郎 Zoë Ångström 𝓐𝓵𝓲𝓬𝓮"
for _ in 1 2 3 4 5 6 7; do yamada_name+=" 山田太郎 Zoë Ångström 𝓐𝓵𝓲𝓬𝓮"; done
{
  echo 'admin-token,admin,admin,"system:masters"'
  echo 'alice-token,alice,alice,"sales-team"'
  echo 'bob-token,bob,bob,"sales-team"'
  echo 'carol-token,carol,carol,"support-team"'
  echo 'dave-token,dave,dave,"support-team"'
  echo 'erin-token,erin,erin,"finance-team"'
  echo 'frank-token,frank,frank,"outsiders"'
  echo 'grace-token,grace,grace,"sales-team"'
  echo "yamada-token,$yamada_name,yamada,\"sales-team\""
  if [ -n "$node_ip" ]; then
    # The node's components, under the names the API server's default RBAC binds.
    echo 'node-token,system:node:workflow-share-node,node,"system:nodes"'
    echo 'kube-proxy-token,system:kube-proxy,kube-proxy'
    echo 'scheduler-token,system:kube-scheduler,kube-scheduler'
  fi
} >"$pki/tokens.csv"

# --- etcd --------------------------------------------------------------------
etcd_cmd=("$bin/etcd" --name default --data-dir "$dir/etcd"
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port"
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port"
  --initial-cluster "default=http://127.0.0.1:$peer_port" --unsafe-no-fsync=true
  --quota-backend-bytes=8589934592 --log-level=warn)
# Saved so restart.sh can start a component again exactly as it was.
printf '%q ' "${etcd_cmd[@]}" >"$dir/etcd.cmd"
"${etcd_cmd[@]}" >"$dir/etcd.log" 2>&1 &
echo $! >"$dir/etcd.pid"

# --- audit (optional) -----------------------------------------------------------
# With WORKFLOW_SHARE_AUDIT_DIR set, the API server records every request of the
# controller's ServiceAccount there (metadata only). The full test run uses it to
# prove the chart grants the controller exactly what it uses.
audit_flags=()
if [ -n "${WORKFLOW_SHARE_AUDIT_DIR:-}" ]; then
  mkdir -p "$WORKFLOW_SHARE_AUDIT_DIR"
  cat >"$dir/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: ["system:serviceaccount:workflow-share-system:workflow-share"]
  - level: None
POLICY
  audit_flags=(--audit-policy-file "$dir/audit-policy.yaml"
    --audit-log-path "$WORKFLOW_SHARE_AUDIT_DIR/$(basename "$dir").log" --audit-log-format json)
fi

# --- kube-apiserver ------------------------------------------------------------
if [ -n "$node_ip" ]; then
  node_flags=(--bind-address 0.0.0.0 --advertise-address "$node_ip"
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction)
else
  node_flags=(--bind-address 127.0.0.1 --advertise-address 127.0.0.1
    --authorization-mode RBAC --disable-admission-plugins ServiceAccount)
fi
apiserver_cmd=("$bin/kube-apiserver"
  --etcd-servers "http://127.0.0.1:$etcd_port"
  "${node_flags[@]}" --secure-port "$api_port"
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key"
  --client-ca-file "$pki/ca.crt"
  --token-auth-file "$pki/tokens.csv"
  --service-cluster-ip-range 10.0.0.0/24
  --service-account-issuer https://kubernetes.default.svc
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key"
  --max-requests-inflight 2000 --max-mutating-requests-inflight 1000
  --event-ttl 1h --v 0 ${audit_flags[@]+"${audit_flags[@]}"})
printf '%q ' "${apiserver_cmd[@]}" >"$dir/apiserver.cmd"
echo "https://127.0.0.1:$api_port" >"$dir/server"
"${apiserver_cmd[@]}" >"$dir/apiserver.log" 2>&1 &
echo $! >"$dir/apiserver.pid"

if [ -n "$watch_pid" ]; then
  # Reaper: tears the control plane down when the owning process goes away.
  setsid bash -c "while kill -0 $watch_pid 2>/dev/null; do sleep 1; done; '$here/down.sh' '$dir'" \
    >/dev/null 2>&1 </dev/null &
fi

# --- kubeconfig ----------------------------------------------------------------
server="https://127.0.0.1:$api_port"
kc="$dir/kubeconfig"
{
  echo "apiVersion: v1"
  echo "kind: Config"
  echo "clusters:"
  echo "- name: local"
  echo "  cluster:"
  echo "    server: $server"
  echo "    certificate-authority: $pki/ca.crt"
  echo "users:"
  for u in "${users[@]}"; do
    echo "- name: $u"
    echo "  user:"
    echo "    token: $u-token"
  done
  echo "contexts:"
  for u in "${users[@]}"; do
    echo "- name: $u"
    echo "  context: {cluster: local, user: $u}"
  done
  echo "current-context: admin"
} >"$kc"
ln -sf "$bin/kubectl" "$dir/kubectl"
printf 'export KUBECONFIG=%q\nexport PATH=%q:"$PATH"\n' "$kc" "$bin" >"$dir/env"

# --- kube-controller-manager ----------------------------------------------------
kcm_kc="$dir/controller-manager.kubeconfig"
{
  echo "apiVersion: v1"
  echo "kind: Config"
  echo "clusters: [{name: local, cluster: {server: '$server', certificate-authority: '$pki/ca.crt'}}]"
  echo "users: [{name: admin, user: {token: admin-token}}]"
  echo "contexts: [{name: admin, context: {cluster: local, user: admin}}]"
  echo "current-context: admin"
} >"$kcm_kc"
kcm_cmd=("$bin/kube-controller-manager"
  --kubeconfig "$kcm_kc"
  --controllers "$([ -n "$node_ip" ] && echo '*' || echo garbagecollector,namespace,serviceaccount,serviceaccount-token)"
  --use-service-account-credentials=true
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt"
  --leader-elect=false --secure-port 0 --v 0)
printf '%q ' "${kcm_cmd[@]}" >"$dir/controller-manager.cmd"

alive() { for c in "$@"; do kill -0 "$(cat "$dir/$c.pid")" 2>/dev/null || return 1; done; }
exited() {
  log "a component exited; last log lines:"
  tail -n 20 "$dir/etcd.log" "$dir/apiserver.log" "$dir/controller-manager.log" 2>/dev/null >&2
  exit 1
}

# The controller-manager gives up if the API server is not healthy within its first seconds, which a
# loaded machine can exceed; so it starts once the API server is ready.
ready=
for _ in $(seq 1 1200); do
  if curl -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer admin-token" "$server/readyz" >/dev/null 2>&1; then
    ready=1; break
  fi
  alive etcd apiserver || exited
  sleep 0.1
done
[ -n "$ready" ] || { log "not ready after 120s; see $dir/apiserver.log"; exit 1; }
"${kcm_cmd[@]}" >"$dir/controller-manager.log" 2>&1 &
echo $! >"$dir/controller-manager.pid"
# It is running once it has passed its own wait for a healthy API server.
for _ in $(seq 1 600); do
  alive etcd apiserver controller-manager || exited
  if grep -q "Starting controller\|Started controller\|Waiting for caches to sync" "$dir/controller-manager.log"; then
    log "ready at $server (kubeconfig $kc)"
    exit 0
  fi
  sleep 0.1
done
log "the controller-manager did not start its controllers in 60s; see $dir/controller-manager.log"; exit 1
