#!/usr/bin/env bash
# Installs workflow-share's cluster pieces into a control plane started by
# hack/controlplane/up.sh DIR, from the Helm chart: CRDs, workspace roles, admission
# policies and the controller's ServiceAccount with its least-privilege RBAC (a real
# `helm install`). Writes
# DIR/controller.kubeconfig, which authenticates as that ServiceAccount, so the
# controller runs locally with exactly the permissions the chart gives it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: install-local.sh DIR}
export KUBECONFIG="$dir/kubeconfig"
kubectl="$dir/kubectl"

# The chart is the one source of truth: install it with helm (CRDs included), without
# the Deployment, since the controller runs locally with the chart ServiceAccount's token.
helm=$("$root/hack/helm/build.sh")
"$helm" upgrade --install workflow-share "$root/charts/workflow-share" \
  --namespace workflow-share-system --create-namespace --set deploy=false >/dev/null
"$kubectl" wait --for=condition=Established crd --all --timeout=60s >/dev/null

token=$("$kubectl" create token workflow-share -n workflow-share-system --duration=48h)
server=$("$kubectl" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
cat >"$dir/controller.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$server", certificate-authority: "$dir/pki/ca.crt"}
users:
- name: workflow-share
  user: {token: "$token"}
contexts:
- name: workflow-share
  context: {cluster: local, user: workflow-share, namespace: workflow-share-system}
current-context: workflow-share
KC

# Admission policies take effect a moment after they are created: wait until the
# self-share refusal, the creator stamp and the finalizer answer (server-side dry run).
probe_ns=workflow-share-system
deadline=$((SECONDS + 30))
while [ "$SECONDS" -lt "$deadline" ]; do
  out=$(printf 'apiVersion: sharing.workflows.dev/v1alpha1\nkind: WorkflowShare\nmetadata: {name: policy-probe, namespace: %s}\nspec: {workflowRef: {name: probe}}\n' "$probe_ns" \
    | "$kubectl" create --dry-run=server -o jsonpath='{.metadata.annotations} {.metadata.finalizers}' -f - 2>&1 || true)
  refused=$(printf 'apiVersion: sharing.workflows.dev/v1alpha1\nkind: WorkflowShare\nmetadata: {name: policy-probe, namespace: %s}\nspec: {workflowRef: {name: probe}, workspaces: [%s]}\n' "$probe_ns" "$probe_ns" \
    | "$kubectl" create --dry-run=server -f - 2>&1 || true)
  case "$out|$refused" in
    *created-by*sharing.workflows.dev/grants*ValidatingAdmissionPolicy*) exit 0 ;;
  esac
  sleep 0.1
done
echo "install-local: admission policies did not take effect within 30s" >&2
exit 1
