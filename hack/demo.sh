#!/usr/bin/env bash
# Runs workflow-share on a local control plane: builds everything (cached after the
# first run), starts etcd + kube-apiserver, installs the CRDs and workspace roles,
# applies examples/, starts the controller and shows the result.
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

echo "==> installing CRDs and workspace roles"
"$kubectl" apply --server-side -f "$root/crds/" >/dev/null
"$kubectl" wait --for=condition=Established crd --all --timeout=60s >/dev/null
"$kubectl" apply --server-side -f "$root/charts/workflow-share/templates/workspace-roles.yaml" >/dev/null

echo "==> starting the controller (log: $dir/controller.log)"
nohup "$root/target/release/workflow-share" controller >"$dir/controller.log" 2>&1 &
echo $! >"$dir/controller.pid"

echo "==> applying examples/"
"$kubectl" apply --server-side -f "$root/examples/" >/dev/null
"$kubectl" wait --for=condition=Ready workflowshares --all -n sales --timeout=60s >/dev/null

echo
"$kubectl" get workflowshares,sharedworkflows -A
echo
echo "Can dave (a support member) read sales/lead-qualification?" \
  "$("$kubectl" auth can-i get workflows/lead-qualification -n sales --as dave || true)"
echo "Can frank (no workspace) read it?" \
  "$("$kubectl" auth can-i get workflows/lead-qualification -n sales --as frank || true)"
cat <<MSG

The control plane and the controller keep running. Try it yourself:
  export KUBECONFIG=$dir/kubeconfig PATH=$dir:\$PATH
  kubectl get workflows,workflowshares,sharedworkflows -A
  kubectl --context carol get sharedworkflows -n support
Stop everything with: hack/demo.sh down
MSG
