#!/usr/bin/env bash
# Builds the heavy test tools once into .cache/bin (ignored by git) so later
# runs reuse them. Usage: scripts/tools.sh temporal|kubernetes|prometheus|all
# (kubernetes: the control plane for the Kubernetes tests, scripts/k8s-tools.sh;
# prometheus: Debian's Prometheus server, which the GPU power test scrapes
# a DCGM exporter stand-in with)
#
# .cache/bin is a link to a per-user folder (VIB_TOOL_CACHE, default
# ~/.cache/vllm-inference-benchmark/bin), so every clone on a machine, CI's
# fresh one included, reuses binaries that took minutes to build.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${VIB_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vllm-inference-benchmark}/bin"
mkdir -p "$shared" .cache
if [ -d .cache/bin ] && [ ! -L .cache/bin ]; then
  cp -an .cache/bin/. "$shared"/ && rm -rf .cache/bin
fi
ln -sfn "$shared" .cache/bin
export GOBIN="$shared"

temporal() {
  [ -x "$GOBIN/temporal" ] && return 0
  echo "building the Temporal CLI (v1.5.1) into $GOBIN; a few minutes the first time" >&2
  go install github.com/temporalio/cli/cmd/temporal@v1.5.1
}

# Debian's package, unpacked without root (apt-get download takes no lock).
prometheus() (
  [ -x "$GOBIN/prometheus" ] && exit 0
  echo "fetching Debian's prometheus package into $GOBIN" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -q prometheus)
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  cp "$tmp/root/usr/bin/prometheus" "$GOBIN/prometheus"
)

case "${1:-all}" in
  temporal) temporal ;;
  kubernetes) scripts/k8s-tools.sh all ;;
  prometheus) prometheus ;;
  all) temporal && prometheus && scripts/k8s-tools.sh all ;;
  *) echo "usage: $0 temporal|kubernetes|prometheus|all" >&2; exit 2 ;;
esac
