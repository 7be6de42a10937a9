#!/usr/bin/env bash
# Renders a report.html in headless Chromium with the network cut off and saves a
# PNG screenshot. Fails when the page makes any request (the netlog shows a request
# from the file:// page), logs any console message (a blocked or failed load, a CSP
# violation: a self-contained page without scripts logs none), or no PNG comes out.
#
#   scripts/screenshot.sh REPORT_HTML OUT_PNG [WIDTH,HEIGHT]    (default 1280,6000)
#
# Needs Chromium (Debian: apt-get install chromium); set CHROMIUM to another binary.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 REPORT_HTML OUT_PNG [WIDTH,HEIGHT]" >&2
    exit 2
fi
html=$(realpath "$1")
out=$(realpath -m "$2")
size=${3:-1280,6000}
[[ -f $html ]] || { echo "screenshot: no such file: $html" >&2; exit 2; }

browser=${CHROMIUM:-}
if [[ -z $browser ]]; then
    for candidate in chromium chromium-browser google-chrome; do
        if command -v "$candidate" >/dev/null; then browser=$candidate; break; fi
    done
fi
[[ -n $browser ]] || { echo "screenshot: Chromium not found (apt-get install chromium, or set CHROMIUM)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$out")"
rm -f "$out"

# The proxy points at a closed port and every host name resolves to nothing, so
# no request can leave the machine even if the page or the browser tries.
status=0
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" \
    --proxy-server=127.0.0.1:9 --host-resolver-rules='MAP * ~NOTFOUND' \
    --enable-logging=stderr --log-level=0 --log-net-log="$work/net.json" \
    --hide-scrollbars --window-size="$size" --screenshot="$out" \
    "file://$html" >"$work/stdout" 2>"$work/stderr" || status=$?
if [[ $status -ne 0 ]]; then
    echo "screenshot: $browser exited with status $status" >&2
    tail -n 20 "$work/stderr" >&2
    exit 1
fi

failed=0
# Requests made on behalf of the page carry the file:// page as isolation key;
# the browser's own background requests (update checks) do not and are ignored.
if grep -q '"network_isolation_key":"file://' "$work/net.json"; then
    echo "screenshot: the page made network requests:" >&2
    grep '"network_isolation_key":"file://' "$work/net.json" | grep -o '"url":"[^"]*"' | sort -u >&2
    failed=1
fi
if grep -q ':CONSOLE' "$work/stderr"; then
    echo "screenshot: the page logged console messages (failed or blocked loads):" >&2
    grep ':CONSOLE' "$work/stderr" >&2
    failed=1
fi
if [[ ! -s $out ]]; then
    echo "screenshot: $browser wrote no screenshot to $out" >&2
    failed=1
fi
[[ $failed -eq 0 ]] || exit 1
echo "screenshot: $out ($size, no requests, no console messages)"
