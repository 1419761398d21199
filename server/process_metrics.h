// The standard process metrics of Prometheus's client libraries
// (process_cpu_seconds_total, process_resident_memory_bytes, ...), read
// from /proc at scrape time: prometheus-cpp does not export them itself.
#ifndef TENSOROPS_SERVER_PROCESS_METRICS_H_
#define TENSOROPS_SERVER_PROCESS_METRICS_H_

#include <prometheus/metric_family.h>

#include <optional>
#include <vector>

#include "absl/strings/string_view.h"

namespace tensorops::server {

// What /proc says of this process; each field unset if unreadable.
struct ProcessSample {
  std::optional<double> cpu_seconds;  // user + system
  std::optional<double> resident_bytes;
  std::optional<double> virtual_bytes;
  std::optional<double> open_fds;
  std::optional<double> max_fds;
  std::optional<double> start_time_seconds;  // since the Unix epoch
  std::optional<double> threads;
};

// Parses /proc/<pid>/stat's text (`stat`), with the kernel's clock ticks
// per second, page size and boot time (seconds since the epoch, from
// /proc/stat's btime), into the stat-derived fields of a sample.
ProcessSample ParseProcStat(absl::string_view stat, long ticks_per_second,
                            long page_size, double boot_time_seconds);

// This process, now.
ProcessSample SampleThisProcess();

// `sample` as the standard families: process_cpu_seconds_total (counter),
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds and
// process_threads (gauges); unset fields are left out.
std::vector<prometheus::MetricFamily> ProcessMetricFamilies(
    const ProcessSample& sample);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_PROCESS_METRICS_H_
