#include "core/buffer_pool.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace tensorops {
namespace {

using testing::IsOk;
using testing::StatusIs;

TEST(BufferPoolTest, ReusesLargeBlocksOfTheSameClass) {
  BufferPool pool({.max_cached_bytes = 64 << 20, .min_pooled_bytes = 1 << 20});
  std::byte* first = nullptr;
  {
    absl::StatusOr<std::shared_ptr<std::byte>> block = pool.Allocate(3 << 20);
    ASSERT_THAT(block, IsOk());
    first = block->get();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % BufferPool::kAlignment, 0u);
    std::memset(first, 1, 3 << 20);
  }
  EXPECT_GE(pool.cached_bytes(), size_t{3} << 20);
  absl::StatusOr<std::shared_ptr<std::byte>> again =
      pool.Allocate((3 << 20) - 100);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->get(), first);
  EXPECT_EQ(pool.cached_bytes(), 0u);
}

TEST(BufferPoolTest, SmallBlocksBypassThePool) {
  BufferPool pool({.max_cached_bytes = 64 << 20, .min_pooled_bytes = 1 << 20});
  { ASSERT_THAT(pool.Allocate(1000), IsOk()); }
  EXPECT_EQ(pool.cached_bytes(), 0u);
}

TEST(BufferPoolTest, CacheIsBoundedAndTrimmable) {
  BufferPool pool({.max_cached_bytes = 8 << 20, .min_pooled_bytes = 1 << 20});
  {
    std::vector<std::shared_ptr<std::byte>> blocks;
    for (int i = 0; i < 4; ++i) blocks.push_back(*pool.Allocate(4 << 20));
  }
  EXPECT_LE(pool.cached_bytes(), size_t{8} << 20);
  EXPECT_GT(pool.cached_bytes(), 0u);
  pool.Trim();
  EXPECT_EQ(pool.cached_bytes(), 0u);
}

TEST(BufferPoolTest, ImpossibleSizeIsResourceExhausted) {
  BufferPool pool({});
  EXPECT_THAT(pool.Allocate(size_t{1} << 62),
              StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));
}

TEST(BufferPoolTest, ConcurrentUseHandsOutDistinctBlocks) {
  BufferPool pool({.max_cached_bytes = 256 << 20, .min_pooled_bytes = 1 << 16});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&pool, t] {
      for (int i = 0; i < 200; ++i) {
        std::shared_ptr<std::byte> block = *pool.Allocate(1 << 17);
        std::memset(block.get(), t, 1 << 17);
        for (int j = 0; j < (1 << 17); j += 4096) {
          ASSERT_EQ(block.get()[j], std::byte(t));
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

}  // namespace
}  // namespace tensorops
