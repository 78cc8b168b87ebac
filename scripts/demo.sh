#!/usr/bin/env bash
# The README's main job on built-in defaults: creates ./demo/shortlink.db with a few links, a
# signing key and a compiled snapshot, serves it on 127.0.0.1 and shows redirects with curl.
# On a terminal the server keeps running until Ctrl-C; otherwise it is stopped after the
# demonstration. Rerunnable: the demo database, key and snapshots are recreated each time.
# Expects a built binary (scripts/build.sh); override it with SHORTLINK_BIN, the ports with
# DEMO_PORT (8080) and DEMO_ADMIN_PORT (9090).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SHORTLINK_BIN:-${BUILD_DIR:-build}/cli/shortlink}
if [ ! -x "$bin" ]; then
  echo "demo: $bin not found; run scripts/build.sh first" >&2
  exit 1
fi
mkdir -p demo
rm -rf demo/shortlink.db demo/shortlink.db-wal demo/shortlink.db-shm demo/keys demo/snapshots
export SHORTLINK_DB=demo/shortlink.db
sl() { "$bin" --actor demo "$@"; }

sl init
sl domain add go.example.com --default-type 301 --root-url https://example.com/
sl add https://example.com/docs/getting-started --code docs/setup --tag docs
sl add https://example.com/pricing --code pricing --type 308
sl add "https://example.com/blog/2026/launch?utm_source=shortlink" --tag blog
sl add https://example.com/sale --code sale --expires 7d --tag promo
sl add https://example.com/wiki --domain go.example.com --code wiki
sl add https://example.com/old --code old
sl delete old

echo
echo "== links in $SHORTLINK_DB"
sl list
echo
echo "== one link"
sl show docs/setup
echo
echo "== audit trail"
sl history --limit 5

echo
echo "== signing key and snapshot"
sl keygen --out demo/keys --name demo
sl compile --key demo/keys/demo.key --out demo/snapshots

port=${DEMO_PORT:-8080}
admin_port=${DEMO_ADMIN_PORT:-9090}
"$bin" serve --snapshots demo/snapshots --trust demo/keys/demo.pub \
  --listen "127.0.0.1:$port" --admin "127.0.0.1:$admin_port" --threads 1 2>demo/serve.log &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT

ready=0
for _ in $(seq 1 100); do
  if curl -fs "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "demo: the server did not become ready; its log:" >&2
  cat demo/serve.log >&2
  exit 1
fi

show() {
  echo
  echo "\$ $(printf "%q " "$@")"
  "$@"
}
echo
echo "== shortlink serve is answering on 127.0.0.1:$port (PID $server_pid, log in demo/serve.log)"
show curl -si "http://127.0.0.1:$port/pricing"
show curl -si -H "Host: go.example.com" "http://127.0.0.1:$port/wiki"
show curl -si "http://127.0.0.1:$port/old"
show curl -s "http://127.0.0.1:$admin_port/readyz"
echo

if [ -t 0 ]; then
  echo "== the server keeps running; try the curl commands above. Ctrl-C stops it."
  wait "$server_pid"
else
  echo "== not on a terminal: stopping the server (PID $server_pid)"
fi
