// Metrics read at scrape time: what malloc holds.
#include "server/metrics.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server {
namespace {

using testing::MetricValue;

// Keeps the test's allocation observable, so it is not optimized away.
char* volatile g_block = nullptr;

TEST(HeapMetricsTest, InUseCountsALiveAllocationUntilItIsFreed) {
  absl::StatusOr<std::unique_ptr<Metrics>> metrics = Metrics::Create({});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const auto in_use = [&] {
    return MetricValue((*metrics)->Render(), "tensorops_heap_in_use_bytes");
  };
  if (!in_use().has_value()) {
    GTEST_SKIP() << "malloc's counters are not visible here (a sanitizer "
                    "replaces malloc)";
  }
  constexpr size_t kBytes = size_t{64} << 20;
  const double before = *in_use();
  g_block = static_cast<char*>(std::malloc(kBytes));
  ASSERT_NE(g_block, nullptr);
  std::memset(g_block, 1, kBytes);
  const double during = *in_use();
  std::free(g_block);
  g_block = nullptr;
  const double after = *in_use();
  EXPECT_GE(during - before, static_cast<double>(kBytes));
  EXPECT_LE(after, during - static_cast<double>(kBytes));
  EXPECT_TRUE(MetricValue((*metrics)->Render(), "tensorops_heap_free_bytes")
                  .has_value());
}

}  // namespace
}  // namespace tensorops::server
