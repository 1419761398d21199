// The standard process metrics, from /proc.
#include "server/process_metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server {
namespace {

using testing::MetricValue;
using ::testing::Optional;

TEST(ProcessMetricsTest, ParsesStatPastACommandNameWithSpacesAndParens) {
  // Fields 3.. after the name: state S, then 4-13, utime 250, stime 150,
  // 16-19, 7 threads, 21, starttime 500 ticks, vsize 8192, rss 3 pages.
  const ProcessSample sample = ParseProcStat(
      "1234 (odd (name) x) S 1 1 1 0 -1 0 10 0 0 0 250 150 0 0 20 0 7 0 500 "
      "8192 3 18446744073709551615",
      /*ticks_per_second=*/100, /*page_size=*/4096,
      /*boot_time_seconds=*/1000);
  EXPECT_THAT(sample.cpu_seconds, Optional(4.0));
  EXPECT_THAT(sample.threads, Optional(7.0));
  EXPECT_THAT(sample.start_time_seconds, Optional(1005.0));
  EXPECT_THAT(sample.virtual_bytes, Optional(8192.0));
  EXPECT_THAT(sample.resident_bytes, Optional(3.0 * 4096));
}

TEST(ProcessMetricsTest, TruncatedStatLeavesFieldsUnset) {
  const ProcessSample sample = ParseProcStat("1234 (x) S 1 1", 100, 4096, 0);
  EXPECT_FALSE(sample.cpu_seconds.has_value());
  EXPECT_FALSE(sample.resident_bytes.has_value());
  EXPECT_TRUE(ProcessMetricFamilies(sample).empty());
}

TEST(ProcessMetricsTest, ThisProcessCountsOpenedFiles) {
  // 100 at once, so that a descriptor or two that another thread of the
  // test binary (gRPC's, say) opens or closes meanwhile cannot matter.
  constexpr int kFiles = 100;
  const ProcessSample before = SampleThisProcess();
  std::vector<int> fds;
  for (int i = 0; i < kFiles; ++i)
    fds.push_back(open("/proc/self/stat", O_RDONLY));
  const ProcessSample during = SampleThisProcess();
  for (const int fd : fds) {
    ASSERT_GE(fd, 0);
    close(fd);
  }
  ASSERT_TRUE(before.open_fds.has_value());
  ASSERT_TRUE(during.open_fds.has_value());
  EXPECT_GE(*during.open_fds - *before.open_fds, kFiles - 10);
  EXPECT_LE(*during.open_fds - *before.open_fds, kFiles + 10);
  EXPECT_GT(during.resident_bytes.value_or(0), 0);
  EXPECT_GT(during.max_fds.value_or(0), 0);
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(during.start_time_seconds.value_or(0), now + 1);
  EXPECT_GT(during.start_time_seconds.value_or(0), now - 86400);
}

TEST(ProcessMetricsTest, ExportedBesideBuildInfo) {
  absl::StatusOr<std::unique_ptr<Metrics>> metrics =
      Metrics::Create({.listen_address = "",
                       .session_stats = nullptr,
                       .backend = "cpu",
                       .version = "1.2.3"});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::string text = (*metrics)->Render();
  EXPECT_GT(MetricValue(text, "process_resident_memory_bytes").value_or(0), 0);
  EXPECT_TRUE(MetricValue(text, "process_cpu_seconds_total").has_value());
  EXPECT_TRUE(MetricValue(text, "process_open_fds").has_value());
  EXPECT_TRUE(MetricValue(text, "process_start_time_seconds").has_value());
  EXPECT_THAT(
      MetricValue(text,
                  "tensorops_build_info{backend=\"cpu\",version=\"1.2.3\"}"),
      Optional(1.0));
}

}  // namespace
}  // namespace tensorops::server
