#!/usr/bin/env bash
# Stops a cluster started by hack/cluster/up.sh DIR and returns the host to how it
# was: pods are removed while the runtime still runs (so the CNI plugin releases
# their network), then every process the harness started (by pid), then whatever
# is left: kube-proxy's and the CNI plugin's iptables chains, the bridge and its
# veths, network namespaces, mounts under DIR, the pods' cgroups; ip_forward is
# set back. Finally DIR is removed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: down.sh DIR}
[ -d "$dir" ] || exit 0
dir=$(cd "$dir" && pwd)
bin=$("$here/build.sh" 2>/dev/null) || bin=""
stop() { # name: SIGTERM, then SIGKILL after 5 s
  local f="$dir/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$f"
}

# Nothing new is scheduled or made; the kubelet removes every pod it runs.
stop scheduler
stop controller-manager
ctr=()
[ -n "$bin" ] && [ -S "$dir/containerd/containerd.sock" ] && ctr=("$bin/ctr" --address "$dir/containerd/containerd.sock" -n k8s.io)
if [ -n "$bin" ] && [ -f "$dir/kubelet.pid" ] && kill -0 "$(cat "$dir/kubelet.pid")" 2>/dev/null; then
  KUBECONFIG="$dir/kubeconfig" timeout 20 "$bin/kubectl" delete pods --all -A --grace-period=0 --force \
    --wait=false >/dev/null 2>&1
  for _ in $(seq 1 150); do
    [ ${#ctr[@]} -gt 0 ] || break
    [ -z "$("${ctr[@]}" tasks ls -q 2>/dev/null)" ] && ! ls /run/netns/cni-* >/dev/null 2>&1 && break
    sleep 0.2
  done
fi
stop kubelet
stop kube-proxy
# The runtime's shims outlive it: end those of this DIR's containerd.
for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $dir/containerd/" 2>/dev/null); do
  kill -9 "$pid" 2>/dev/null
done
stop containerd
stop apiserver
stop etcd
for f in "$dir"/*.pid; do
  [ -f "$f" ] || continue
  stop "$(basename "$f" .pid)"
done

# kube-proxy removes its own rules; then anything left of ours.
[ -n "$bin" ] && "$bin/kube-proxy" --cleanup >/dev/null 2>&1
for table in filter nat mangle raw; do
  chains=$(iptables -t "$table" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/{print $2}')
  for chain in $chains; do
    # Jumps into the chain first, then the chain itself.
    iptables -t "$table" -S 2>/dev/null | grep -E -- "-j $chain( |$)" | sed 's/^-A/-D/' |
      while read -r rule; do eval "iptables -t $table $rule" 2>/dev/null; done
  done
  for chain in $chains; do iptables -t "$table" -F "$chain" 2>/dev/null; done
  for chain in $chains; do iptables -t "$table" -X "$chain" 2>/dev/null; done
done
bridge=$(cat "$dir/bridge" 2>/dev/null)
if [ -n "$bridge" ] && ip link show "$bridge" >/dev/null 2>&1; then
  for veth in $(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link delete "$veth" 2>/dev/null
  done
  ip link delete "$bridge" 2>/dev/null
fi
for ns in /run/netns/cni-*; do
  [ -e "$ns" ] || continue
  umount "$ns" 2>/dev/null; rm -f "$ns"
done
# Deepest first, so that each mount's parent is still there.
grep -F " $dir/" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r m; do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
done
for hierarchy in /sys/fs/cgroup/*/; do
  [ -d "$hierarchy/kubepods" ] || continue
  find "$hierarchy/kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null
done
[ -f "$dir/ip_forward.orig" ] && cat "$dir/ip_forward.orig" >/proc/sys/net/ipv4/ip_forward
rm -rf "$dir"
