// The Markdown summary printed after a run: ours against libtorch per case.
#ifndef TENSOROPS_BENCH_RESULTS_TABLE_H_
#define TENSOROPS_BENCH_RESULTS_TABLE_H_

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/bench_cases.h"
#include "bench/bench_options.h"
#include "bench/median_reporter.h"

namespace tensorops::bench {

// Registered benchmark names of a case's two sides.
std::string OursName(const BenchCase& bench_case);
std::string TorchName(const BenchCase& bench_case);
std::string FloorName(const BenchCase& bench_case);  // the memory floor's

// Where and how the numbers were taken, for the table's header.
struct RunDescription {
  int online_cpus = 0;
  std::string cpu_model;     // /proc/cpuinfo "model name", or "unknown"
  std::string date_utc;      // e.g. "2024-06-01 12:00:00 UTC"
  std::string load_average;  // /proc/loadavg's first three fields
  std::string libtorch;      // version, or "not built"
  std::string kernels;       // our kernels' instruction-set clone
  BenchOptions options;
};

// Describes this machine and the current time.
RunDescription DescribeRun(const BenchOptions& options,
                           std::string libtorch_version);

// A Markdown header and table with one row per case that ran: median ms of
// each side, speedup (libtorch time / our time), our GB/s (BytesPerCall /
// our median time), the memory floor's ms and the fraction of it we reach
// (floor time / our time), and whether the outputs agreed (`agreement`, by
// case name, as PreparedCase::agreement).
void PrintResultsTable(std::ostream& out, const RunDescription& description,
                       const std::vector<BenchCase>& cases,
                       const MedianReporter& results,
                       const std::map<std::string, absl::Status>& agreement);

}  // namespace tensorops::bench

#endif  // TENSOROPS_BENCH_RESULTS_TABLE_H_
