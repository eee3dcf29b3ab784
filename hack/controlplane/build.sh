#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from the Go modules beside this script
# and caches them outside the clone, keyed by version, so later runs and CI reuse them.
# Prints the bin directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
k8s=$(cd "$here/kube" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
etcd=$(cd "$here/etcd" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
cache=${WORKFLOW_SHARE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/workflow-share}
bin="$cache/controlplane/k8s-$k8s-etcd-$etcd/bin"
mkdir -p "$bin"

log() { echo "controlplane: $*" >&2; }

if [ ! -x "$bin/kube-apiserver" ] || [ ! -x "$bin/kubectl" ] || [ ! -x "$bin/kube-controller-manager" ]; then
  . "$(cd "$(dirname "$0")/.." && pwd)/lib/kube.sh"
  ldflags=$(kube_ldflags "$k8s")
  log "building kube-apiserver, kube-controller-manager and kubectl $k8s (first time only, several minutes)"
  (cd "$here/kube" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl)
fi
if [ ! -x "$bin/etcd" ]; then
  log "building etcd $etcd (first time only)"
  (cd "$here/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
fi
echo "$bin"
