#!/usr/bin/env bash
# Builds what a one-node cluster needs besides the control plane, from pinned Go
# modules (kubelet, kube-proxy and kube-scheduler from the control plane's
# Kubernetes module; containerd, runc and the CNI plugins from the modules beside
# this script) and a static pause program, and caches them outside the clone keyed
# by version. runc needs cgo and libseccomp (Debian's libseccomp-dev); kube-proxy
# needs iptables and conntrack: installed with apt-get when missing.
# Prints the bin directory on stdout (the pause image archive is in it too).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
hack=$(cd "$here/.." && pwd)
cp_bin=$("$hack/controlplane/build.sh")
version() { (cd "$here/$1" && go list -m -f '{{.Version}}' "$2"); }
k8s=$(cd "$hack/controlplane/kube" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
containerd=$(version containerd github.com/containerd/containerd/v2)
runc=$(version runc github.com/opencontainers/runc)
cni=$(version cni github.com/containernetworking/plugins)
cache=${WORKFLOW_SHARE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/workflow-share}
bin="$cache/cluster/k8s-$k8s-containerd-$containerd-runc-$runc-cni-$cni/bin"
mkdir -p "$bin"
log() { echo "cluster: $*" >&2; }

missing=()
command -v iptables >/dev/null || missing+=(iptables)
command -v conntrack >/dev/null || missing+=(conntrack)
pkg-config --exists libseccomp 2>/dev/null || missing+=(libseccomp-dev pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2; }
fi

if [ ! -x "$bin/kubelet" ] || [ ! -x "$bin/kube-proxy" ] || [ ! -x "$bin/kube-scheduler" ]; then
  . "$(cd "$(dirname "$0")/.." && pwd)/lib/kube.sh"
  ldflags=$(kube_ldflags "$k8s")
  log "building kubelet, kube-proxy and kube-scheduler $k8s (first time only)"
  (cd "$hack/controlplane/kube" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kube-scheduler)
fi
if [ ! -x "$bin/containerd" ] || [ ! -x "$bin/ctr" ] || [ ! -x "$bin/containerd-shim-runc-v2" ]; then
  log "building containerd $containerd (first time only)"
  (cd "$here/containerd" && CGO_ENABLED=0 go build -trimpath -tags "urfave_cli_no_docs osusergo netgo" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd" -o "$bin/" \
    github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr)
  (cd "$here/containerd" && CGO_ENABLED=0 go build -trimpath -tags "urfave_cli_no_docs osusergo netgo no_grpc" \
    -ldflags "-s -w" -o "$bin/" github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2)
fi
if [ ! -x "$bin/runc" ]; then
  log "building runc $runc with seccomp (first time only)"
  (cd "$here/runc" && CGO_ENABLED=1 go build -trimpath -tags "seccomp urfave_cli_no_docs" \
    -ldflags "-s -w -X main.version=${runc#v}" -o "$bin/runc" github.com/opencontainers/runc)
fi
if [ ! -x "$bin/cni/bridge" ]; then
  log "building the CNI plugins $cni (first time only)"
  mkdir -p "$bin/cni"
  (cd "$here/cni" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/cni/" \
    github.com/containernetworking/plugins/plugins/ipam/host-local \
    github.com/containernetworking/plugins/plugins/main/bridge \
    github.com/containernetworking/plugins/plugins/main/loopback \
    github.com/containernetworking/plugins/plugins/meta/portmap)
fi
if [ ! -f "$bin/pause.oci.tar" ] || [ "$here/pause.c" -nt "$bin/pause.oci.tar" ]; then
  log "building the pause image"
  work=$(mktemp -d)
  mkdir -p "$work/rootfs"
  gcc -static -Os -s -o "$work/rootfs/pause" "$here/pause.c"
  chmod 0755 "$work/rootfs" "$work/rootfs/pause"
  . "$hack/lib/oci.sh"
  oci_archive "$work/rootfs" registry.k8s.io/pause:3.10.2 65535:65535 '["/pause"]' '[]' "$bin/pause.oci.tar" >/dev/null
  rm -rf "$work"
fi
for tool in kube-apiserver kube-controller-manager kubectl etcd; do
  ln -sf "$cp_bin/$tool" "$bin/$tool"
done
echo "$bin"
