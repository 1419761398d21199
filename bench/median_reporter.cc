#include "bench/median_reporter.h"

#include <algorithm>

namespace tensorops::bench {
namespace {

double RealTimeMs(const benchmark::BenchmarkReporter::Run& run) {
  // GetAdjustedRealTime() is per call, in the run's own time unit.
  return run.GetAdjustedRealTime() /
         benchmark::GetTimeUnitMultiplier(run.time_unit) * 1e3;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace

void MedianReporter::ReportRuns(const std::vector<Run>& runs) {
  ConsoleReporter::ReportRuns(runs);
  for (const Run& run : runs) {
    Measurements& entry = by_name_[run.run_name.function_name];
    if (run.error_occurred) {
      entry.error = run.error_message;
      any_error_ = true;
    } else if (run.run_type == Run::RT_Aggregate) {
      if (run.aggregate_name == "median") {
        entry.median_aggregate_ms = RealTimeMs(run);
      }
    } else {
      entry.repetition_ms.push_back(RealTimeMs(run));
    }
  }
}

std::optional<double> MedianReporter::MedianMs(const std::string& name) const {
  const auto it = by_name_.find(name);
  if (it == by_name_.end() || !it->second.error.empty()) return std::nullopt;
  if (it->second.median_aggregate_ms.has_value()) {
    return it->second.median_aggregate_ms;
  }
  if (it->second.repetition_ms.empty()) return std::nullopt;
  return Median(it->second.repetition_ms);
}

std::string MedianReporter::Error(const std::string& name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? "" : it->second.error;
}

}  // namespace tensorops::bench
