#!/usr/bin/env bash
# Configures and builds shortlink into ${BUILD_DIR:-build} (Release with line tables: -O2 -g1).
# Extra arguments go to cmake, e.g. scripts/build.sh -DSHORTLINK_SANITIZE=ON.
# Everything is built (tests included) unless BUILD_TARGETS names the targets to build, e.g.
# BUILD_TARGETS=shortlink for the binary alone (scripts/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
targets=()
for target in ${BUILD_TARGETS:-}; do
  targets+=(--target "$target")
done
cmake -S . -B "$build_dir" -G Ninja -DSHORTLINK_WERROR=ON "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" "${targets[@]}"
