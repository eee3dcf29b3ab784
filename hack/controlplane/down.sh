#!/usr/bin/env bash
# Stops a control plane started by up.sh and removes its directory.
set -uo pipefail
dir=${1:?usage: down.sh DIR}
for c in apiserver etcd; do
  [ -f "$dir/$c.pid" ] && kill "$(cat "$dir/$c.pid")" 2>/dev/null
done
for c in apiserver etcd; do
  pid=$(cat "$dir/$c.pid" 2>/dev/null) || continue
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
done
rm -rf "$dir"
