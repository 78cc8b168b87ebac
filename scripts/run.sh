#!/usr/bin/env bash
# The README's main job: installs dependencies, builds the binary, and runs the demo on
# built-in defaults (scripts/demo.sh). Run as root on a fresh Debian 12 machine.
# Only the `shortlink` binary is built: scripts/test.sh builds the tests in the same tree,
# reusing what was compiled here.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_TARGETS=shortlink bash scripts/build.sh
exec bash scripts/demo.sh
