#!/usr/bin/env bash
# Restarts one component of a control plane started by up.sh, exactly as up.sh
# started it (same flags, ports and data), and waits until the API answers again.
#
#   hack/controlplane/restart.sh DIR apiserver|etcd [DOWNTIME_SECONDS]
#
# READY_SECONDS (default 60): how long the API may take to answer again (an API
# server over 100,000 objects fills its watch caches for longer than a minute).
#
# Used by the fault tests and the benchmark: clients see their connections and
# watches break, then relist.
set -euo pipefail
dir=${1:?usage: restart.sh DIR apiserver|etcd [DOWNTIME_SECONDS]}
component=${2:?usage: restart.sh DIR apiserver|etcd [DOWNTIME_SECONDS]}
downtime=${3:-1}
case "$component" in apiserver | etcd) ;; *) echo "restart.sh: unknown component $component" >&2; exit 2 ;; esac
pid=$(cat "$dir/$component.pid")
kill "$pid" 2>/dev/null || true
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -9 "$pid" 2>/dev/null || true
sleep "$downtime"
# The saved command line is printf %q output: eval rebuilds the same words. exec, so
# that the recorded pid is the component's own and down.sh stops it (not a subshell
# that would leave the component running, orphaned).
eval "exec $(cat "$dir/$component.cmd")" >>"$dir/$component.log" 2>&1 &
echo $! >"$dir/$component.pid"
ready_seconds=${READY_SECONDS:-60}
for _ in $(seq 1 $((ready_seconds * 10))); do
  if curl -fsS --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer admin-token" "$(cat "$dir/server")/readyz" >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.1
done
echo "restart.sh: $component restarted but the API is not ready after ${ready_seconds}s" >&2
exit 1
