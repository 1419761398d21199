// What a load run measured, and the ghz-style report of it.
#ifndef TENSOROPS_BENCH_LOAD_LOAD_STATS_H_
#define TENSOROPS_BENCH_LOAD_LOAD_STATS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace tensorops::load {

// Results of one worker, or of all of them after Merge. Not thread-safe:
// each in-flight slot records into its own.
struct LoadStats {
  std::vector<int64_t> latencies_ns;  // every unit, failed ones included
  std::map<std::string, int64_t> status_counts;  // "OK", "UNAVAILABLE", ...
  std::map<std::string, int64_t> error_counts;   // message -> count

  void Record(absl::Duration latency, const std::string& status,
              const std::string& error);
  void Merge(const LoadStats& other);
};

struct RunInfo {
  std::string call;
  std::string address;
  int concurrency = 0;
  int connections = 0;
  double rps = 0;
  int64_t request_bytes = 0;
  absl::Duration total_time;
};

// Text like ghz's summary: count, total, average/fastest/slowest,
// requests/s, a 10-bucket latency histogram, p10..p99.9 and the status and
// error distributions.
std::string FormatSummary(const RunInfo& info, LoadStats stats);

// The same numbers as JSON (latencies in milliseconds).
std::string FormatJson(const RunInfo& info, LoadStats stats);

}  // namespace tensorops::load

#endif  // TENSOROPS_BENCH_LOAD_LOAD_STATS_H_
