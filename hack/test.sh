#!/usr/bin/env bash
# Runs every test: unit tests of the planner and naming, the CRD drift check, and
# the integration tests, which start their own etcd + kube-apiserver (built from Go
# modules once and cached in ~/.cache/workflow-share) and the controller.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
hack/controlplane/build.sh >/dev/null
hack/helm/build.sh >/dev/null
hack/kstatus/build.sh >/dev/null
# fault-injection compiles in the test-only panics the resilience tests trigger.
if [ $# -gt 0 ]; then
  exec cargo test --features fault-injection "$@"
fi
# A full run also records the controller's API requests (audit logs), then checks
# that the chart grants the controller exactly the permissions it used.
export WORKFLOW_SHARE_AUDIT_DIR="$root/target/audit"
rm -rf "$WORKFLOW_SHARE_AUDIT_DIR"
cargo test --all-targets --features fault-injection
cargo test --features fault-injection --test least_privilege -- --ignored
