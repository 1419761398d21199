#include "bench/bench_options.h"

#include <cstdlib>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tensorops::bench {
namespace {

absl::Status ParseThreads(absl::string_view text, int& threads) {
  if (!absl::SimpleAtoi(text, &threads) || threads < 1 || threads > 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "thread count must be an integer in [1, 1024], got \"", text, "\""));
  }
  return absl::OkStatus();
}

bool EnvFlagIsOn(const char* value) {
  return value != nullptr && *value != '\0' && std::string_view(value) != "0";
}

// The value of `--name=value` in `arg`, or false when `arg` is another flag.
bool MatchValueFlag(std::string_view arg, std::string_view name,
                    absl::string_view& value) {
  for (std::string_view part :
       {std::string_view("--"), name, std::string_view("=")}) {
    if (!arg.starts_with(part)) return false;
    arg.remove_prefix(part.size());
  }
  value = absl::string_view(arg.data(), arg.size());
  return true;
}

}  // namespace

absl::StatusOr<BenchOptions> ParseBenchOptions(int& argc, char** argv) {
  BenchOptions options;
  if (const char* env = std::getenv("TENSOROPS_BENCH_THREADS");
      env != nullptr && *env != '\0') {
    if (absl::Status s = ParseThreads(env, options.threads); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("TENSOROPS_BENCH_THREADS: ", s.message()));
    }
  }
  options.quick = EnvFlagIsOn(std::getenv("TENSOROPS_BENCH_QUICK"));

  int kept = 1;  // argv[0] stays
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    absl::string_view value;
    if (arg == "--quick") {
      options.quick = true;
    } else if (MatchValueFlag(arg, "threads", value)) {
      if (absl::Status s = ParseThreads(value, options.threads); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--threads: ", s.message()));
      }
    } else if (MatchValueFlag(arg, "repetitions", value)) {
      if (!absl::SimpleAtoi(value, &options.repetitions) ||
          options.repetitions < 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--repetitions must be a positive integer, got \"", value, "\""));
      }
    } else if (MatchValueFlag(arg, "min_time_s", value)) {
      if (!absl::SimpleAtod(value, &options.min_time_s) ||
          !(options.min_time_s > 0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--min_time_s must be a positive number, got \"", value, "\""));
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  return options;
}

const char* BenchOptionsUsage() {
  return "core_bench options (besides Google Benchmark's --benchmark_*):\n"
         "  --threads=N        threads for ours and libtorch (default 2;\n"
         "                     env TENSOROPS_BENCH_THREADS)\n"
         "  --quick            one iteration per case, for smoke tests\n"
         "                     (env TENSOROPS_BENCH_QUICK=1)\n"
         "  --repetitions=N    repetitions per case, median reported "
         "(default 3)\n"
         "  --min_time_s=X     minimum time per repetition (default 0.5)\n"
         "Use these rather than --benchmark_repetitions/--benchmark_min_time,\n"
         "which the per-case settings override.\n";
}

}  // namespace tensorops::bench
