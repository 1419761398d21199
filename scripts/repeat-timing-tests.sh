#!/usr/bin/env bash
# Runs every test labelled `timing` (tests with threads, processes, signals,
# sockets or clocks; the soak test excepted) many times in a row, built with
# AddressSanitizer + UndefinedBehaviorSanitizer (the asan build of
# scripts/check-sanitizers.sh), with CPU-bound processes running beside it:
# 100 runs of each test, 10 of each that takes over 5 s. A test that can
# fail by timing fails here long before it fails CI. Not part of CI: it
# takes hours on a 2-core machine.
#
# A first run of every test, under the same load, measures how long each
# takes; each test is then repeated until it fails or reaches its count
# (ctest --repeat until-fail). Sanitizer reports from any process fail the
# run too. The summary (with the machine and date) is printed and written to
# build-asan/repeat-timing-tests.txt.
#
# Environment:
#   FAST_RUNS      runs of a test that takes at most SLOW_SECONDS (100)
#   SLOW_RUNS      runs of a test that takes longer (10)
#   SLOW_SECONDS   the boundary, measured under load (5)
#   LOAD_PROCESSES CPU-bound processes beside the tests (2)
#   TESTS_REGEX    only tests whose names match (ctest -R), for a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FAST_RUNS=${FAST_RUNS:-100}
SLOW_RUNS=${SLOW_RUNS:-10}
SLOW_SECONDS=${SLOW_SECONDS:-5}
LOAD_PROCESSES=${LOAD_PROCESSES:-2}
BUILD=build-asan
LOGS=$ROOT/$BUILD/sanitizer-logs
SUMMARY=$ROOT/$BUILD/repeat-timing-tests.txt

log() { echo "repeat-timing-tests: $*"; }

SANITIZER_STAGES=asan SANITIZER_BUILD_ONLY=1 scripts/check-sanitizers.sh
source scripts/sanitizer-env.sh
rm -rf "$LOGS"
mkdir -p "$LOGS"
asan_environment "$LOGS"

load=()
stop_load() { ((${#load[@]} == 0)) || kill "${load[@]}" 2>/dev/null || true; }
trap stop_load EXIT
for ((i = 0; i < LOAD_PROCESSES; ++i)); do
  sh -c 'while :; do :; done' &
  load+=($!)
done
log "$LOAD_PROCESSES CPU-bound processes beside the tests: ${load[*]}"

selection=(-L timing -LE soak)
[[ -n ${TESTS_REGEX:-} ]] && selection+=(-R "$TESTS_REGEX")
run_ctest() {
  ctest --test-dir "$BUILD" --output-on-failure --no-tests=error \
    --timeout 900 -j "$(nproc)" "$@"
}

# First run: every test once, timed.
first=$ROOT/$BUILD/repeat-first-run.log
start=$SECONDS
status=0
run_ctest "${selection[@]}" 2>&1 | tee "$first" || status=1
# "  3/120 Test  #57: Suite.Name ......   Passed    1.23 sec"
fast=() slow=()
while read -r number seconds; do
  if awk -v s="$seconds" -v limit="$SLOW_SECONDS" 'BEGIN { exit !(s > limit) }'; then
    slow+=("$number")
  else
    fast+=("$number")
  fi
done < <(sed -nE 's/^ *[0-9]+\/[0-9]+ Test +#([0-9]+): .* Passed +([0-9.]+) sec$/\1 \2/p' "$first")
log "first run: ${#fast[@]} tests of at most ${SLOW_SECONDS}s, ${#slow[@]} longer, status $status"

# ctest -I: Start,End,Stride, then single test numbers (the empty range 0,0
# selects none by itself). Without -L or -R: with them, -I would count in
# the filtered list rather than by test number.
repeat() {  # runs numbers...
  local runs=$1
  shift
  (($# > 0)) || return 0
  local list
  list=$(IFS=,; echo "$*")
  run_ctest -I "0,0,1,$list" --repeat "until-fail:$runs"
}
for kind in fast slow; do
  if [[ $kind == fast ]]; then
    repeat "$FAST_RUNS" "${fast[@]}" > "$ROOT/$BUILD/repeat-$kind.log" 2>&1 || status=1
  else
    repeat "$SLOW_RUNS" "${slow[@]}" > "$ROOT/$BUILD/repeat-$kind.log" 2>&1 || status=1
  fi
  log "$kind tests: $(grep -E 'tests passed|tests failed' "$ROOT/$BUILD/repeat-$kind.log" || echo none)"
  sed -n '/The following tests FAILED/,$p' "$ROOT/$BUILD/repeat-$kind.log"
done

reports=$(grep -rl '^SUMMARY: ' "$LOGS" 2>/dev/null | sort || true)
if [[ -n $reports ]]; then
  status=1
  for report in $reports; do
    echo "===== $report"
    cat "$report"
  done
fi
elapsed=$((SECONDS - start))
{
  echo "repeat-timing-tests, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "ASan + UBSan, $LOAD_PROCESSES CPU-bound processes beside the tests"
  echo "${#fast[@]} tests x $FAST_RUNS runs, ${#slow[@]} tests (over ${SLOW_SECONDS}s) x $SLOW_RUNS runs"
  echo "sanitizer reports: $(echo "$reports" | grep -c . || true)"
  echo "result: $([[ $status == 0 ]] && echo 'every run passed' || echo FAILED) in ${elapsed}s"
} | tee "$SUMMARY"
exit "$status"
