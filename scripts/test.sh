#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test with ctest. This is what CI runs.
#
# Then the same code again under sanitizers, each in a tree of its own that builds only what its
# tests run: every unit test (the fuzz corpora's replay among them, so every parser of untrusted
# bytes) and an end-to-end smoke (hostile requests to a running server, store and snapshot
# commands) under AddressSanitizer and UndefinedBehaviorSanitizer, and snapshot swaps under load
# (the server's threads) under ThreadSanitizer. A sanitizer report fails the run: the runtimes
# stop at the first one with exit status 66, which no command uses, and the end-to-end tests look
# for reports on every process's stderr (tests/e2e/harness.py). SHORTLINK_SANITIZERS=0 skips
# those trees (and installing clang).
set -euo pipefail
cd "$(dirname "$0")/.."
SHORTLINK_WITH_SANITIZERS=${SHORTLINK_SANITIZERS:-1} bash scripts/install-deps.sh
# Tests that skip when a package is missing must run here, where it was just installed.
export SHORTLINK_DEPS_INSTALLED=1
build=${BUILD_DIR:-build}
jobs=$(nproc)
# The code (not the tests) is compiled as unity sources, as in the sanitizer trees below: a few
# files per compiler run parse Boost's headers once, which takes minutes off a clean build.
bash scripts/build.sh -DCMAKE_UNITY_BUILD=ON
ctest --test-dir "$build" --output-on-failure -j "$jobs"

if [ "${SHORTLINK_SANITIZERS:-1}" = 0 ]; then
  exit 0
fi

# The sanitizer trees are built with clang, which compiles this code about twice as fast as
# GCC does with the same sanitizers (GCC's UBSan at -O1 takes minutes on a Beast-heavy file:
# serve/admin.cpp, 218 s), and without -Werror: the normal tree is the one that holds the
# warnings. Line tables only (-g1): reports still name files and lines. ASan+UBSan at -O0 (its
# tests wait far more than they compute), TSan at -O1 (the swap tests put the server under
# load). Executables are linked without PIE: an instrumented PIE binary spends most of its
# start-up (0.4 s of every command an end-to-end test runs) in dynamic relocation. The code
# (not the tests: tests/CMakeLists.txt) is built as unity sources, a few files per compiler
# run, which parse Boost's headers once instead of once a file: the ASan tree's `shortlink`
# took 205 s of CPU so against 566 s file by file.
sanitizer_tree() {  # DIR SANITIZER OPTIMIZATION TARGET...
  local dir=$1 sanitizer=$2 optimization=$3
  shift 3
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DSHORTLINK_SANITIZE="$sanitizer" \
    -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="$optimization -g1" \
    -DCMAKE_EXE_LINKER_FLAGS=-no-pie -DCMAKE_UNITY_BUILD=ON >/dev/null
  cmake --build "$dir" -j "$jobs" --target "$@"
}

export ASAN_OPTIONS=halt_on_error=1:exitcode=66:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:exitcode=66:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1

sanitizer_tree "$build-asan" address -O0 shortlink shortlink_unit_tests
ctest --test-dir "$build-asan" --output-on-failure -j "$jobs" -L unit
ctest --test-dir "$build-asan" --output-on-failure -j "$jobs" \
  -R '^e2e:(serve_hostile|store_commands|snapshot_commands)$'

# Under TSan the server runs several times slower: the swap test makes 100 swaps under load
# here (1000 in the normal tree). The patch and block tests exercise the same loader-to-worker
# handover and the concurrent-writer tests run separate processes, which TSan cannot see
# between; they run in the normal tree only.
sanitizer_tree "$build-tsan" thread -O1 shortlink
SHORTLINK_SWAP_EVENTS=100 ctest --test-dir "$build-tsan" --output-on-failure -j "$jobs" \
  -R '^e2e:serve_swap$'
