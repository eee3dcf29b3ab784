#!/usr/bin/env bash
# Stops a control plane started by up.sh (and anything else that left a pid file
# in DIR, such as a controller started by the tests or the demo), then removes DIR.
set -uo pipefail
dir=${1:?usage: down.sh DIR}
[ -d "$dir" ] || exit 0
pids=()
for f in "$dir"/*.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f"); pids+=("$pid")
  kill "$pid" 2>/dev/null
done
for pid in "${pids[@]}"; do
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
done
rm -rf "$dir"
