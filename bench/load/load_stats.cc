#include "bench/load/load_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tensorops::load {
namespace {

constexpr double kPercentiles[] = {10, 25, 50, 75, 90, 95, 99, 99.9};
constexpr int kBuckets = 10;

struct Bucket {
  double upper_ms;
  int64_t count;
};

struct Summary {
  int64_t count = 0;
  double total_s = 0;
  double rps = 0;
  double fastest_ms = 0, slowest_ms = 0, average_ms = 0;
  std::vector<std::pair<double, double>> percentiles;  // (p, ms)
  std::vector<Bucket> histogram;
};

double Ms(int64_t ns) { return ns / 1e6; }

// Sorts the latencies in place.
Summary Summarize(const RunInfo& info, LoadStats& stats) {
  Summary s;
  std::vector<int64_t>& lat = stats.latencies_ns;
  std::sort(lat.begin(), lat.end());
  s.count = static_cast<int64_t>(lat.size());
  s.total_s = absl::ToDoubleSeconds(info.total_time);
  s.rps = s.total_s > 0 ? s.count / s.total_s : 0;
  if (lat.empty()) return s;
  s.fastest_ms = Ms(lat.front());
  s.slowest_ms = Ms(lat.back());
  double sum = 0;
  for (int64_t ns : lat) sum += ns;
  s.average_ms = sum / s.count / 1e6;
  for (double p : kPercentiles) {
    // Nearest rank.
    int64_t rank = static_cast<int64_t>(std::ceil(p / 100 * s.count)) - 1;
    rank = std::clamp<int64_t>(rank, 0, s.count - 1);
    s.percentiles.emplace_back(p, Ms(lat[rank]));
  }
  // Equal-width buckets from fastest to slowest, as ghz draws them.
  const double width = (s.slowest_ms - s.fastest_ms) / kBuckets;
  size_t next = 0;
  for (int b = 0; b < kBuckets; ++b) {
    const double upper =
        b == kBuckets - 1 ? s.slowest_ms : s.fastest_ms + width * (b + 1);
    int64_t count = 0;
    while (next < lat.size() && (Ms(lat[next]) <= upper || b == kBuckets - 1)) {
      ++count;
      ++next;
    }
    s.histogram.push_back({upper, count});
  }
  return s;
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string JsonCounts(const std::map<std::string, int64_t>& counts) {
  std::vector<std::string> parts;
  for (const auto& [key, count] : counts) {
    parts.push_back(absl::StrCat(JsonString(key), ": ", count));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

}  // namespace

void LoadStats::Record(absl::Duration latency, const std::string& status,
                       const std::string& error) {
  latencies_ns.push_back(absl::ToInt64Nanoseconds(latency));
  ++status_counts[status];
  if (!error.empty()) ++error_counts[error];
}

void LoadStats::Merge(const LoadStats& other) {
  latencies_ns.insert(latencies_ns.end(), other.latencies_ns.begin(),
                      other.latencies_ns.end());
  for (const auto& [key, count] : other.status_counts) {
    status_counts[key] += count;
  }
  for (const auto& [key, count] : other.error_counts) {
    error_counts[key] += count;
  }
}

std::string FormatSummary(const RunInfo& info, LoadStats stats) {
  const Summary s = Summarize(info, stats);
  std::string out = absl::StrFormat(
      "\nSummary:\n  Call:\t%s\n  Address:\t%s\n  Concurrency:\t%d over %d "
      "connection(s)\n  Request size:\t%d bytes\n  Count:\t%d\n  Total:\t%.2f "
      "s\n  Slowest:\t%.3f ms\n  Fastest:\t%.3f ms\n  Average:\t%.3f ms\n  "
      "Requests/sec:\t%.2f\n",
      info.call, info.address, info.concurrency, info.connections,
      info.request_bytes, s.count, s.total_s, s.slowest_ms, s.fastest_ms,
      s.average_ms, s.rps);
  if (!s.histogram.empty()) {
    out += "\nResponse time histogram:\n";
    int64_t most = 1;
    for (const Bucket& b : s.histogram) most = std::max(most, b.count);
    for (const Bucket& b : s.histogram) {
      out += absl::StrFormat("  %10.3f [%d]\t|%s\n", b.upper_ms, b.count,
                             std::string(b.count * 40 / most, '#'));
    }
    out += "\nLatency distribution:\n";
    for (const auto& [p, ms] : s.percentiles) {
      out += absl::StrFormat("  %g %% in %.3f ms\n", p, ms);
    }
  }
  out += "\nStatus code distribution:\n";
  for (const auto& [code, count] : stats.status_counts) {
    out += absl::StrFormat("  [%s]\t%d responses\n", code, count);
  }
  if (!stats.error_counts.empty()) {
    out += "\nError distribution:\n";
    for (const auto& [error, count] : stats.error_counts) {
      out += absl::StrFormat("  [%d]\t%s\n", count, error);
    }
  }
  return out;
}

std::string FormatJson(const RunInfo& info, LoadStats stats) {
  const Summary s = Summarize(info, stats);
  std::vector<std::string> percentiles;
  for (const auto& [p, ms] : s.percentiles) {
    percentiles.push_back(
        absl::StrFormat("{\"percentage\": %g, "
                        "\"latency_ms\": %.6f}",
                        p, ms));
  }
  std::vector<std::string> histogram;
  for (const Bucket& b : s.histogram) {
    histogram.push_back(absl::StrFormat("{\"mark_ms\": %.6f, \"count\": %d}",
                                        b.upper_ms, b.count));
  }
  return absl::StrFormat(
      "{\"call\": %s, \"address\": %s, \"concurrency\": %d, "
      "\"connections\": %d, \"rps_limit\": %g, \"request_bytes\": %d, "
      "\"count\": %d, \"total_s\": %.6f, \"rps\": %.3f, \"fastest_ms\": "
      "%.6f, \"slowest_ms\": %.6f, \"average_ms\": %.6f, "
      "\"latency_distribution\": [%s], \"histogram\": [%s], "
      "\"status_code_distribution\": %s, \"error_distribution\": %s}\n",
      JsonString(info.call), JsonString(info.address), info.concurrency,
      info.connections, info.rps, info.request_bytes, s.count, s.total_s, s.rps,
      s.fastest_ms, s.slowest_ms, s.average_ms,
      absl::StrJoin(percentiles, ", "), absl::StrJoin(histogram, ", "),
      JsonCounts(stats.status_counts), JsonCounts(stats.error_counts));
}

}  // namespace tensorops::load
