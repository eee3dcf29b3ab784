#!/usr/bin/env bash
# Builds the kstatus checker (main.go: the cli-utils kstatus library, pinned in
# go.mod beside this script) and caches it outside the clone, keyed by the go.sum
# hash, so later runs and CI reuse it. Prints the binary's path on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-16)
cache=${WORKFLOW_SHARE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/workflow-share}
bin="$cache/kstatus-$key/kstatus"
if [ ! -x "$bin" ]; then
  echo "kstatus: building the cli-utils checker (first time only)" >&2
  mkdir -p "$(dirname "$bin")"
  (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin" .)
fi
echo "$bin"
