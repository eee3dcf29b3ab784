#!/usr/bin/env bash
# Runs every test: unit tests of the planner and naming, the CRD drift check, and
# the integration tests, which start their own etcd + kube-apiserver (built from Go
# modules once and cached in ~/.cache/workflow-share) and the controller.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
hack/controlplane/build.sh >/dev/null
hack/helm/build.sh >/dev/null
# fault-injection compiles in the test-only panics the resilience tests trigger.
cargo test --all-targets --features fault-injection "$@"
