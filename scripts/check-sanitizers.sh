#!/usr/bin/env bash
# Builds and runs the sanitizer checks; scripts/test.sh (so CI) runs it after
# the main tests. Each stage has its own build directory:
#
#   asan  build-asan, g++ -fsanitize=address,undefined: every C++ test
#         executable (tests/core, proto, server, client, cuda) through ctest,
#         with the server and CLI binaries they start. The Python, deploy,
#         load and bench tests are left out (they start many processes and
#         test no C++ beyond what the C++ tests do), and so is the soak test
#         (label soak): it checks that the server's memory stays flat, which
#         ASan's quarantine and shadow memory make meaningless, and so are
#         the fault tests (FaultTest.*), whose drain and disconnect timings
#         assume an uninstrumented server; both run in the main ctest.
#   tsan  build-tsan, g++ -fsanitize=thread: the core tests and the session
#         cache tests (server_unit_test). tests/sanitizers/tsan_support.cc
#         makes absl's and oneTBB's synchronization visible to TSan.
#   fuzz  build-fuzz, clang-14 libFuzzer with address,undefined:
#         tests/fuzz/request_fuzzer for FUZZ_SECONDS over a copy of its seed
#         corpus (tests/fuzz/corpus/request_fuzzer).
#
# Any test failure, sanitizer report (including one from a process a test
# started: reports go to files in <build>/sanitizer-logs, printed at the end) or
# fuzzer finding (crash, leak, timeout, out-of-memory) fails the script,
# after every requested stage has run.
#
# Environment:
#   SANITIZER_STAGES  stages to run, default "asan tsan fuzz"
#   SANITIZER_BUILD_ONLY  1: build the stages' targets, run nothing
#                     (scripts/repeat-timing-tests.sh uses the asan build)
#   FUZZ_SECONDS      fuzzing time, default 60
#   FUZZ_MAX_LEN      largest fuzzer input in bytes, default 4096
# scripts/test.sh skips this script when TENSOROPS_SKIP_SANITIZERS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

STAGES=${SANITIZER_STAGES:-asan tsan fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_MAX_LEN=${FUZZ_MAX_LEN:-4096}
JOBS=$(nproc)

# Shared by the sanitizer builds: optimized but with line numbers (reports
# name lines), asserts kept, and only what the tests need.
COMMON_CMAKE=(
  -G Ninja
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
  -DTENSOROPS_WITH_CUDA=OFF
  -DTENSOROPS_WITH_TORCH=OFF
  -DTENSOROPS_BUILD_BENCH=OFF
)
if command -v ccache >/dev/null; then
  COMMON_CMAKE+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

log() { echo "check-sanitizers: $*"; }

# asan_environment LOGDIR: the ASan/UBSan run-time options for the asan
# stage, reports into LOGDIR.
source "$ROOT/scripts/sanitizer-env.sh"

# Fresh, empty report directory for a stage.
reset_logs() {
  rm -rf "$1"
  mkdir -p "$1"
}

# Fails if any sanitizer wrote a report under $1, printing them. Every report
# ends with a SUMMARY line; other lines (ASan's warning when it returns null
# for an absurd allocation) are not findings.
check_logs() {
  local reports
  reports=$(grep -rl '^SUMMARY: ' "$1" | sort || true)
  if [[ -n $reports ]]; then
    log "sanitizer reports in $1:"
    for report in $reports; do
      echo "===== $report"
      cat "$report"
    done
    return 1
  fi
}

stage_asan() {
  local build=build-asan logs=$ROOT/build-asan/sanitizer-logs
  CXX=g++ cmake -S . -B "$build" "${COMMON_CMAKE[@]}" \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
    -DTENSOROPS_SANITIZE=address,undefined
  # With bench, torch and CUDA off the default target is the C++ tests plus
  # the server and CLI binaries they start (and the Python stubs, which are
  # quick), so new test executables are picked up without editing this.
  ninja -C "$build"
  [[ ${SANITIZER_BUILD_ONLY:-0} == 1 ]] && return 0
  reset_logs "$logs"
  local status=0
  (
    asan_environment "$logs"
    exec ctest --test-dir "$build" --output-on-failure --no-tests=error \
      --timeout 600 -j "$JOBS" \
      -E '^(python|deploy|load)\.|^FaultTest\.' \
      -LE 'bench|deploy|load|soak|fuzz'
  ) || status=1
  check_logs "$logs" || status=1
  return "$status"
}

stage_tsan() {
  local build=build-tsan logs=$ROOT/build-tsan/sanitizer-logs
  local tests=(tests/core/core_unit_test tests/core/core_concurrency_test
    tests/server/server_unit_test)
  CXX=g++ cmake -S . -B "$build" "${COMMON_CMAKE[@]}" \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DTENSOROPS_SANITIZE=thread
  ninja -C "$build" "${tests[@]##*/}"
  [[ ${SANITIZER_BUILD_ONLY:-0} == 1 ]] && return 0
  reset_logs "$logs"
  # Each executable runs all its tests in one process: TSan's start-up is
  # slow, and one process also lets it see the tests' threads side by side.
  local test status=0
  for test in "${tests[@]}"; do
    log "running $test"
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:allocator_may_return_null=1:suppressions=$ROOT/tests/sanitizers/tsan.supp:log_path=$logs/tsan" \
      timeout 900 "$build/$test" --gtest_brief=1 || status=1
  done
  check_logs "$logs" || status=1
  return "$status"
}

stage_fuzz() {
  local build=build-fuzz logs=$ROOT/build-fuzz/sanitizer-logs
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" "${COMMON_CMAKE[@]}" \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    -DTENSOROPS_SANITIZE=address,undefined -DTENSOROPS_BUILD_FUZZERS=ON
  ninja -C "$build" request_fuzzer
  [[ ${SANITIZER_BUILD_ONLY:-0} == 1 ]] && return 0
  # The fuzzer adds what it finds to its corpus directory: a copy, so the
  # checked-in seeds stay as they are.
  local corpus=$build/fuzz-corpus/request_fuzzer artifacts=$build/fuzz-artifacts
  rm -rf "$corpus" "$artifacts"
  mkdir -p "$(dirname "$corpus")" "$artifacts"
  cp -r tests/fuzz/corpus/request_fuzzer "$corpus"
  reset_logs "$logs"
  # libFuzzer exits non-zero on a crash, sanitizer report, leak, slow input
  # (-timeout seconds) or allocation over -malloc_limit_mb/-rss_limit_mb, and
  # writes the input to $artifacts.
  local status=0
  ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:log_path=$logs/asan" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan" \
    "$build/tests/fuzz/request_fuzzer" -max_total_time="$FUZZ_SECONDS" \
      -max_len="$FUZZ_MAX_LEN" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" \
      || status=1
  if [[ -n $(ls -A "$artifacts") ]]; then
    log "fuzzer findings in $artifacts: $(ls "$artifacts")"
    status=1
  fi
  check_logs "$logs" || status=1
  return "$status"
}

failed=()
summary=()
for stage in $STAGES; do
  case $stage in
    asan | tsan | fuzz) ;;
    *)
      log "unknown stage '$stage' (expected asan, tsan or fuzz)"
      exit 2
      ;;
  esac
  log "stage $stage"
  start=$SECONDS
  # A subshell with errexit, so that any failing command ends the stage.
  set +e
  (
    set -e
    "stage_$stage"
  )
  status=$?
  set -e
  elapsed=$((SECONDS - start))
  if ((status == 0)); then
    summary+=("$stage: ok (${elapsed}s)")
  else
    summary+=("$stage: FAILED (${elapsed}s)")
    failed+=("$stage")
  fi
done

log "summary"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  log "failed: ${failed[*]}"
  exit 1
fi
