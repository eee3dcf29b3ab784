#!/usr/bin/env bash
# Starts a real one-node cluster on this machine: the control plane of
# hack/controlplane (serving the node), kube-scheduler, containerd with runc, a
# kubelet, a bridge CNI network and kube-proxy (iptables). Needs root: it changes
# the host's network (a bridge, iptables rules, ip_forward), mounts and cgroups;
# hack/cluster/down.sh DIR undoes all of it.
#
#   hack/cluster/up.sh DIR [--watch-pid PID]
#
# DIR receives everything (as hack/controlplane/up.sh: kubeconfig, env, logs, pids).
# Images come from archives, never a registry: `DIR/import IMAGE.oci.tar` imports one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
hack=$(cd "$here/.." && pwd)
dir=${1:?usage: up.sh DIR [--watch-pid PID]}
watch_pid=${3:-}
[ "${2:-}" = "--watch-pid" ] || watch_pid=""
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=$("$here/build.sh")
log() { echo "cluster: $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
node=workflow-share-node
bridge=wsnode0
node_ip=$(ip -4 route get 1.1.1.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1)
[ -n "$node_ip" ] || { log "no outbound IPv4 address"; exit 1; }

# What down.sh puts back.
cat /proc/sys/net/ipv4/ip_forward >"$dir/ip_forward.orig"
echo "$bridge" >"$dir/bridge"
echo 1 >/proc/sys/net/ipv4/ip_forward

WORKFLOW_SHARE_NODE_IP=$node_ip "$hack/controlplane/up.sh" "$dir"
if [ -n "$watch_pid" ]; then
  setsid bash -c "while kill -0 $watch_pid 2>/dev/null; do sleep 1; done; '$here/down.sh' '$dir'" \
    >/dev/null 2>&1 </dev/null &
fi
server=$(cat "$dir/server")
kubeconfig_for() { # name token
  cat >"$dir/$1.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: '$server', certificate-authority: '$dir/pki/ca.crt'}}]
users: [{name: $1, user: {token: $2}}]
contexts: [{name: $1, context: {cluster: local, user: $1}}]
current-context: $1
KC
}
kubeconfig_for kubelet node-token
kubeconfig_for kube-proxy kube-proxy-token
kubeconfig_for scheduler scheduler-token

# --- containerd ----------------------------------------------------------------
ctrd="$dir/containerd"
mkdir -p "$ctrd" "$dir/cni/net.d"
cat >"$ctrd/config.toml" <<TOML
version = 3
root = "$ctrd/root"
state = "$ctrd/state"
[grpc]
  address = "$ctrd/containerd.sock"
[ttrpc]
  address = "$ctrd/containerd.sock.ttrpc"
[debug]
  level = "warn"
[plugins.'io.containerd.cri.v1.runtime']
  # No CAP_SYS_RESOURCE here: a sandbox may not lower its oom_score_adj.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = "$bin/runc"
      SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$bin/cni"]
    conf_dir = "$dir/cni/net.d"
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "registry.k8s.io/pause:3.10.2"
TOML
PATH="$bin:$PATH" "$bin/containerd" --config "$ctrd/config.toml" >"$dir/containerd.log" 2>&1 &
echo $! >"$dir/containerd.pid"
cat >"$dir/import" <<IMPORT
#!/usr/bin/env bash
# Imports an OCI image archive into the node (named by its io.containerd.image.name).
exec "$bin/ctr" --address "$ctrd/containerd.sock" -n k8s.io images import --no-unpack=false "\$1"
IMPORT
chmod +x "$dir/import"
for _ in $(seq 1 100); do [ -S "$ctrd/containerd.sock" ] && break; sleep 0.1; done
"$dir/import" "$bin/pause.oci.tar" >/dev/null

cat >"$dir/cni/net.d/10-workflow-share.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "workflow-share-node",
  "plugins": [
    {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$dir/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI

# --- kube-scheduler -----------------------------------------------------------
"$bin/kube-scheduler" --kubeconfig "$dir/scheduler.kubeconfig" --leader-elect=false \
  --secure-port "$(free_port)" --bind-address 127.0.0.1 --v 0 >"$dir/scheduler.log" 2>&1 &
echo $! >"$dir/scheduler.pid"

# --- kubelet ----------------------------------------------------------------
kubelet="$dir/kubelet"
mkdir -p "$kubelet/pki" "$kubelet/pod-logs"
cat >"$kubelet/config.yaml" <<CFG
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host has cgroup v1 only; the kubelet refuses it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$ctrd/containerd.sock
podLogsDir: $kubelet/pod-logs
port: $(free_port)
healthzPort: 0
readOnlyPort: 0
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
clusterDomain: cluster.local
serializeImagePulls: false
CFG
"$bin/kubelet" --config "$kubelet/config.yaml" --kubeconfig "$dir/kubelet.kubeconfig" \
  --root-dir "$kubelet/root" --cert-dir "$kubelet/pki" --hostname-override "$node" \
  --node-ip "$node_ip" --v 0 >"$dir/kubelet.log" 2>&1 &
echo $! >"$dir/kubelet.pid"

# --- kube-proxy -----------------------------------------------------------------
cat >"$dir/kube-proxy.yaml" <<CFG
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $dir/kube-proxy.kubeconfig}
hostnameOverride: $node
clusterCIDR: 10.244.0.0/24
conntrack: {maxPerCore: 0}
healthzBindAddress: 127.0.0.1:$(free_port)
metricsBindAddress: 127.0.0.1:$(free_port)
CFG
"$bin/kube-proxy" --config "$dir/kube-proxy.yaml" --v 0 >"$dir/kube-proxy.log" 2>&1 &
echo $! >"$dir/kube-proxy.pid"

export KUBECONFIG="$dir/kubeconfig"
for _ in $(seq 1 900); do
  if "$bin/kubectl" get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True; then
    log "node $node Ready ($node_ip); kubeconfig $dir/kubeconfig"
    exit 0
  fi
  for c in containerd kubelet kube-proxy scheduler; do
    if ! kill -0 "$(cat "$dir/$c.pid")" 2>/dev/null; then
      log "$c exited; last log lines:"; tail -n 30 "$dir/$c.log" >&2; exit 1
    fi
  done
  sleep 0.2
done
log "node not Ready after 180s; see $dir/kubelet.log"; exit 1
