#include "server/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/scalar_family.h"

namespace tensorops::server {
namespace {

std::string ReadWhole(const char* path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// btime from /proc/stat: when the system booted, in seconds since the epoch.
std::optional<double> BootTimeSeconds() {
  for (absl::string_view line : absl::StrSplit(ReadWhole("/proc/stat"), '\n')) {
    double seconds = 0;
    if (absl::ConsumePrefix(&line, "btime ") &&
        absl::SimpleAtod(line, &seconds)) {
      return seconds;
    }
  }
  return std::nullopt;
}

std::optional<double> CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the directory being read
}

void Add(std::vector<prometheus::MetricFamily>& families, const char* name,
         const char* help, prometheus::MetricType type,
         const std::optional<double>& value) {
  if (value.has_value()) {
    families.push_back(ScalarFamily(name, help, type, *value));
  }
}

}  // namespace

ProcessSample ParseProcStat(absl::string_view stat, long ticks_per_second,
                            long page_size, double boot_time_seconds) {
  ProcessSample sample;
  // The command name (field 2) is in parentheses and may hold spaces and
  // parentheses itself: the fields that follow start after the last ')'.
  const size_t name_end = stat.rfind(')');
  if (name_end == absl::string_view::npos || ticks_per_second <= 0) {
    return sample;
  }
  const std::vector<absl::string_view> fields =
      absl::StrSplit(stat.substr(name_end + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state): field N is fields[N - 3].
  const auto field = [&](size_t n) -> std::optional<double> {
    double value = 0;
    if (n - 3 >= fields.size() || !absl::SimpleAtod(fields[n - 3], &value)) {
      return std::nullopt;
    }
    return value;
  };
  const std::optional<double> utime = field(14);
  const std::optional<double> stime = field(15);
  if (utime && stime) {
    sample.cpu_seconds = (*utime + *stime) / ticks_per_second;
  }
  sample.threads = field(20);
  if (const std::optional<double> start = field(22)) {
    sample.start_time_seconds = boot_time_seconds + *start / ticks_per_second;
  }
  sample.virtual_bytes = field(23);
  if (const std::optional<double> pages = field(24)) {
    sample.resident_bytes = *pages * static_cast<double>(page_size);
  }
  return sample;
}

ProcessSample SampleThisProcess() {
  const std::optional<double> boot = BootTimeSeconds();
  ProcessSample sample =
      ParseProcStat(ReadWhole("/proc/self/stat"), sysconf(_SC_CLK_TCK),
                    sysconf(_SC_PAGESIZE), boot.value_or(0));
  if (!boot.has_value()) sample.start_time_seconds.reset();
  sample.open_fds = CountOpenFds();
  if (rlimit limit; getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    sample.max_fds = static_cast<double>(limit.rlim_cur);
  }
  return sample;
}

std::vector<prometheus::MetricFamily> ProcessMetricFamilies(
    const ProcessSample& sample) {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> families;
  Add(families, "process_cpu_seconds_total",
      "Total user and system CPU time spent in seconds.", MetricType::Counter,
      sample.cpu_seconds);
  Add(families, "process_resident_memory_bytes",
      "Resident memory size in bytes.", MetricType::Gauge,
      sample.resident_bytes);
  Add(families, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
      MetricType::Gauge, sample.virtual_bytes);
  Add(families, "process_open_fds", "Number of open file descriptors.",
      MetricType::Gauge, sample.open_fds);
  Add(families, "process_max_fds", "Maximum number of open file descriptors.",
      MetricType::Gauge, sample.max_fds);
  Add(families, "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds.",
      MetricType::Gauge, sample.start_time_seconds);
  Add(families, "process_threads", "Number of OS threads in the process.",
      MetricType::Gauge, sample.threads);
  return families;
}

}  // namespace tensorops::server
