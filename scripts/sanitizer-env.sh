# Sourced by scripts/check-sanitizers.sh and scripts/repeat-timing-tests.sh.
#
# asan_environment LOGDIR exports the run-time options of the ASan + UBSan
# builds: stop at the first report, write reports to files in LOGDIR (also
# those of child processes, such as the servers tests start), detect leaks
# (tests/sanitizers/lsan.supp lists leaks inside Debian's libraries, each
# explained there). allocator_may_return_null: tests ask for absurd sizes
# and expect RESOURCE_EXHAUSTED, not an ASan abort.
asan_environment() {
  local logs=$1
  export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:allocator_may_return_null=1:check_initialization_order=1:log_path=$logs/asan"
  export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizers/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
}
