#!/usr/bin/env bash
# Screenshot a page with headless Chromium: a URL or an HTML file.
# usage: scripts/screenshot.sh URL-or-FILE OUT.png [WIDTHxHEIGHT]
# WAIT_MS (default 8000) is the virtual time a single-page app gets to render.
set -euo pipefail
if [[ $# -lt 2 ]]; then
	echo "usage: $0 URL-or-FILE OUT.png [WIDTHxHEIGHT]" >&2
	exit 2
fi
target=$1
out=$2
size=${3:-1400x2000}
case $target in
http://* | https://* | file://*) url=$target ;;
*)
	[[ -f $target ]] || { echo "$0: no such file: $target" >&2; exit 1; }
	url="file://$(cd "$(dirname "$target")" && pwd)/$(basename "$target")"
	;;
esac
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z $browser ]]; then
	echo "$0: chromium not found (apt-get install -y chromium)" >&2
	exit 1
fi
case $out in /*) ;; *) out="$PWD/$out" ;; esac
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# A single-page app can keep headless Chromium from ever finishing: bounded,
# and tried twice.
shoot() {
  timeout "${SHOT_TIMEOUT_S:-60}" "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--hide-scrollbars --user-data-dir="$profile" --window-size="${size/x/,}" \
	--virtual-time-budget="${WAIT_MS:-8000}" --screenshot="$out" "$url" 2>"$profile/chromium.log" && [[ -s $out ]]
}
rm -f "$out"
shoot || shoot || {
	echo "$0: no screenshot of $url" >&2
	cat "$profile/chromium.log" >&2
	exit 1
}
echo "$out"
