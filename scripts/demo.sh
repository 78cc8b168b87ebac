#!/usr/bin/env bash
# The README's main job on built-in defaults: creates ./demo/shortlink.db with a few links and
# shows them. Rerunnable: the demo database is recreated each time. Expects a built binary
# (scripts/build.sh); override its location with SHORTLINK_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SHORTLINK_BIN:-${BUILD_DIR:-build}/cli/shortlink}
if [ ! -x "$bin" ]; then
  echo "demo: $bin not found; run scripts/build.sh first" >&2
  exit 1
fi
mkdir -p demo
rm -f demo/shortlink.db demo/shortlink.db-wal demo/shortlink.db-shm
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
