#!/usr/bin/env bash
# Installs every Debian 12 package shortlink needs to build, test and run (as root).
# Only packages that are missing are installed, so a second run costs a few seconds.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libcli11-dev libsqlite3-dev libcereal-dev libzstd-dev libssl-dev libidn2-dev
  libboost1.81-dev libboost-url1.81-dev libsystemd-dev catch2
  python3 sqlite3 curl openssl
  # tests/e2e/readme_tour.py and probe.py give themselves a network namespace (ip); package_deb.py
  # renders the installed man pages and verifies the installed unit
  iproute2 man-db systemd
  # tests/e2e/completions.py runs the completions in the real shells
  fish zsh
  # tests/e2e/serve_tls_browser.py: a headless browser, its WebDriver and NSS's certutil
  chromium chromium-driver libnss3-tools
  rapidjson-dev
  # serve --geoip and resolve --geoip: libmaxminddb reads MaxMind DB (.mmdb) country databases
  libmaxminddb-dev
  # shortlink apply and export --format yaml: the links file is YAML
  libyaml-cpp-dev
  # shortlink qr: libqrencode draws the symbol, libpng writes PNGs; tests/e2e/qr_commands.py
  # reads every symbol back with zbarimg
  libqrencode-dev libpng-dev zbar-tools
  # tests/e2e/export_servers.py loads exported maps into the real nginx and HAProxy (started by
  # the test on 127.0.0.1; the packages' own services are not started, see below)
  nginx-light haproxy
  # tests/e2e/edge_varnish.py puts the real Varnish in front of serve (started by the test on
  # 127.0.0.1 like nginx and HAProxy)
  varnish
)
if [ "${SHORTLINK_WITH_BENCH:-0}" = 1 ]; then
  packages+=(wrk nghttp2-client libcmph-dev libxxhash-dev hyperfine linux-perf)
fi
if [ "${SHORTLINK_WITH_FUZZ:-0}" = 1 ] || [ "${SHORTLINK_WITH_SANITIZERS:-0}" = 1 ]; then
  packages+=(clang libclang-rt-14-dev openssl)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Installing nginx or HAProxy would start their services (port 80 and friends); the tests and
  # benchmarks start their own on 127.0.0.1. A policy-rc.d that says "no" keeps them stopped,
  # unless the machine already has one.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
