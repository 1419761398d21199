// A console reporter that also keeps each benchmark's median time per call.
#ifndef TENSOROPS_BENCH_MEDIAN_REPORTER_H_
#define TENSOROPS_BENCH_MEDIAN_REPORTER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace tensorops::bench {

// Prints what the default console reporter prints and records, per
// registered benchmark name (e.g. "topk/4096x32000/k50/ours"), the real time
// per call of every repetition, the "median" aggregate when there is one,
// and any error.
class MedianReporter : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& runs) override;

  // The median real time per call in milliseconds: Google Benchmark's median
  // aggregate, else the median of the recorded repetitions. nullopt if the
  // benchmark did not run or failed.
  std::optional<double> MedianMs(const std::string& name) const;

  // The error a benchmark reported, or "" if none.
  std::string Error(const std::string& name) const;

  // Whether any benchmark reported an error.
  bool any_error() const { return any_error_; }

 private:
  struct Measurements {
    std::vector<double> repetition_ms;
    std::optional<double> median_aggregate_ms;
    std::string error;
  };

  std::map<std::string, Measurements> by_name_;
  bool any_error_ = false;
};

}  // namespace tensorops::bench

#endif  // TENSOROPS_BENCH_MEDIAN_REPORTER_H_
