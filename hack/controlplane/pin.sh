#!/usr/bin/env bash
# Regenerates the Go modules that build the test control plane for one Kubernetes
# release. Usage: hack/controlplane/pin.sh v1.36.3 v3.6.8
# The Kubernetes version lives only in kube/go.mod afterwards; build.sh reads it there.
set -euo pipefail
k8s=${1:?kubernetes version, e.g. v1.36.3}
etcd=${2:?etcd server version, e.g. v3.6.8}
here=$(cd "$(dirname "$0")" && pwd)
staging="v0.${k8s#v1.}"

modfile=$(go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
# Every staging repo that k8s.io/kubernetes requires at v0.0.0 needs a replace to its tag.
mapfile -t repos < <(grep -E '^\s*k8s.io/[a-z0-9-]+ v0.0.0$' "$modfile" | awk '{print $1}' | sort -u)

{
  echo "module workflow-share.dev/hack/controlplane/kube"
  echo
  echo "go 1.26.0"
  echo
  echo "require k8s.io/kubernetes $k8s"
  echo
  echo "tool ("
  echo "	k8s.io/kubernetes/cmd/kube-apiserver"
  echo "	k8s.io/kubernetes/cmd/kube-controller-manager"
  echo "	k8s.io/kubernetes/cmd/kubectl"
  echo "	k8s.io/kubernetes/cmd/kubelet"
  echo "	k8s.io/kubernetes/cmd/kube-proxy"
  echo "	k8s.io/kubernetes/cmd/kube-scheduler"
  echo ")"
  echo
  echo "replace ("
  for r in "${repos[@]}"; do echo "	$r => $r $staging"; done
  echo ")"
} >"$here/kube/go.mod"
(cd "$here/kube" && go mod tidy)

cat >"$here/etcd/go.mod" <<MOD
module workflow-share.dev/hack/controlplane/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 $etcd

tool go.etcd.io/etcd/server/v3
MOD
(cd "$here/etcd" && go mod tidy)
