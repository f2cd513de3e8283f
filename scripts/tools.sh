#!/usr/bin/env bash
# Builds the heavy test tools once into .cache/bin (ignored by git) so later
# runs reuse them. Usage: scripts/tools.sh temporal|kubernetes|all
# (kubernetes: the control plane for the Kubernetes tests, scripts/k8s-tools.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOBIN="$PWD/.cache/bin"
mkdir -p "$GOBIN"

temporal() {
  [ -x "$GOBIN/temporal" ] && return 0
  echo "building the Temporal CLI (v1.5.1) into $GOBIN; a few minutes the first time" >&2
  go install github.com/temporalio/cli/cmd/temporal@v1.5.1
}

case "${1:-all}" in
  temporal) temporal ;;
  kubernetes) scripts/k8s-tools.sh all ;;
  all) temporal && scripts/k8s-tools.sh all ;;
  *) echo "usage: $0 temporal|kubernetes|all" >&2; exit 2 ;;
esac
