// core_bench's own settings, from the environment and the command line.
#ifndef TENSOROPS_BENCH_BENCH_OPTIONS_H_
#define TENSOROPS_BENCH_BENCH_OPTIONS_H_

#include "absl/status/statusor.h"

namespace tensorops::bench {

struct BenchOptions {
  // Threads for both implementations (our CpuBackend and at::set_num_threads).
  int threads = 2;
  // One iteration, one repetition per case: a smoke run, not a measurement.
  bool quick = false;
  // Repetitions per case; the table reports their median.
  int repetitions = 3;
  // Minimum measuring time per repetition; slow cases run one iteration.
  double min_time_s = 0.5;
};

// Reads TENSOROPS_BENCH_THREADS and TENSOROPS_BENCH_QUICK (non-empty and not
// "0" means on), then the flags --threads=N, --quick, --repetitions=N and
// --min_time_s=X, which take precedence. The flags are removed from argv so
// that Google Benchmark sees only its own. INVALID_ARGUMENT for a malformed
// or out-of-range value.
absl::StatusOr<BenchOptions> ParseBenchOptions(int& argc, char** argv);

// The help text for the flags above.
const char* BenchOptionsUsage();

}  // namespace tensorops::bench

#endif  // TENSOROPS_BENCH_BENCH_OPTIONS_H_
