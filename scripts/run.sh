#!/usr/bin/env bash
# The README's main job: installs dependencies, builds, and runs the demo on built-in defaults
# (scripts/demo.sh). Run as root on a fresh Debian 12 machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
exec bash scripts/demo.sh
