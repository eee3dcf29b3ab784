#!/usr/bin/env bash
# Builds helm from its Go module (pinned in go.mod beside this script) and caches it
# outside the clone, keyed by version, so later runs and CI reuse it. Prints the path
# of the helm binary on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(cd "$here" && go list -m -f '{{.Version}}' helm.sh/helm/v4)
cache=${WORKFLOW_SHARE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/workflow-share}
bin="$cache/helm-$version/helm"
if [ ! -x "$bin" ]; then
  echo "helm: building $version from its Go module (first time only, about 2 minutes)" >&2
  mkdir -p "$(dirname "$bin")"
  (cd "$here" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version" \
    -o "$bin" helm.sh/helm/v4/cmd/helm)
fi
echo "$bin"
