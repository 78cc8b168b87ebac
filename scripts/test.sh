#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test with ctest. This is what CI runs.
#
# Then the same code again under sanitizers, each in a tree of its own that builds only what its
# tests run: every unit test and an end-to-end smoke (server answers and hostile requests, store,
# import and snapshot commands) under AddressSanitizer and UndefinedBehaviorSanitizer, and the tests that exercise
# the server's threads (snapshot swaps, patches, blocks) and concurrent writers under
# ThreadSanitizer. A sanitizer report fails the run: the runtimes stop at the first one with
# exit status 66, which no command uses, and the end-to-end tests look for reports on every
# process's stderr (tests/e2e/harness.py). SHORTLINK_SANITIZERS=0 skips those trees.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${BUILD_DIR:-build}
jobs=$(nproc)
bash scripts/build.sh
ctest --test-dir "$build" --output-on-failure -j "$jobs"

if [ "${SHORTLINK_SANITIZERS:-1}" = 0 ]; then
  exit 0
fi

# -O1 with line tables only: about half the compile time of -O2 -g, and reports still name
# files and lines. Executables are linked without PIE: an instrumented PIE binary spends most of
# its start-up (0.4 s of every command an end-to-end test runs) in dynamic relocation.
sanitizer_tree() {  # DIR SANITIZER TARGET...
  local dir=$1 sanitizer=$2
  shift 2
  cmake -S . -B "$dir" -G Ninja -DSHORTLINK_WERROR=ON -DSHORTLINK_SANITIZE="$sanitizer" \
    -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g1" -DCMAKE_EXE_LINKER_FLAGS=-no-pie >/dev/null
  cmake --build "$dir" -j "$jobs" --target "$@"
}

export ASAN_OPTIONS=halt_on_error=1:exitcode=66:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:exitcode=66:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1

sanitizer_tree "$build-asan" address shortlink shortlink_unit_tests
ctest --test-dir "$build-asan" --output-on-failure -j "$jobs" -L unit
ctest --test-dir "$build-asan" --output-on-failure -j "$jobs" \
  -R '^e2e:(serve_answers|serve_hostile|store_commands|store_import_export|snapshot_commands)$'

sanitizer_tree "$build-tsan" thread shortlink
ctest --test-dir "$build-tsan" --output-on-failure -j "$jobs" \
  -R '^e2e:(serve_swap|serve_patches|serve_blocks|store_concurrency)$'
