#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine, builds, and runs every test,
# then the sanitizer and fuzzing checks (scripts/check-sanitizers.sh: ASan +
# UBSan, TSan and libFuzzer builds in build-asan, build-tsan, build-fuzz).
#
# Environment: BUILD_DIR (default build); TENSOROPS_SKIP_SANITIZERS=1 skips
# the sanitizer checks, for quick local runs; SANITIZER_STAGES and
# FUZZ_SECONDS choose what they run (see scripts/check-sanitizers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 600 -j "$(nproc)" "$@"
if [[ ${TENSOROPS_SKIP_SANITIZERS:-0} != 1 ]]; then
  scripts/check-sanitizers.sh
fi
