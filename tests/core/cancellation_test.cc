#include "core/cancellation.h"

#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops {
namespace {

using testing::IsOk;
using testing::MakeTensor;
using testing::StatusIs;

TEST(CancellationTest, CallbacksRunOnceOnCancel) {
  Cancellation cancellation;
  int calls = 0;
  cancellation.Subscribe([&calls] { ++calls; });
  EXPECT_FALSE(cancellation.cancelled());
  cancellation.Cancel();
  cancellation.Cancel();
  EXPECT_TRUE(cancellation.cancelled());
  EXPECT_EQ(calls, 1);
}

TEST(CancellationTest, SubscribingAfterCancelRunsAtOnce) {
  Cancellation cancellation;
  cancellation.Cancel();
  bool ran = false;
  cancellation.Subscribe([&ran] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(CancellationTest, UnsubscribedCallbacksDoNotRun) {
  Cancellation cancellation;
  bool ran = false;
  const Cancellation::CallbackId id =
      cancellation.Subscribe([&ran] { ran = true; });
  cancellation.Unsubscribe(id);
  cancellation.Cancel();
  EXPECT_FALSE(ran);
}

TEST(CancellationTest, ScopesNestPerThread) {
  Cancellation outer;
  Cancellation inner;
  EXPECT_EQ(CurrentCancellation(), nullptr);
  {
    CancellationScope outer_scope(&outer);
    EXPECT_EQ(CurrentCancellation(), &outer);
    {
      CancellationScope inner_scope(&inner);
      EXPECT_EQ(CurrentCancellation(), &inner);
      std::thread other([] { EXPECT_EQ(CurrentCancellation(), nullptr); });
      other.join();
    }
    EXPECT_EQ(CurrentCancellation(), &outer);
  }
  EXPECT_EQ(CurrentCancellation(), nullptr);
}

class CpuCancellationTest : public ::testing::Test {
 protected:
  CpuBackend backend_{CpuBackendOptions{.num_threads = 2}};
};

TEST_F(CpuCancellationTest, AlreadyCancelledCallsComputeNothing) {
  Tensor x = MakeTensor<float>(DType::kFloat32, {2, 3}, {1, 5, 2, 4, 0, 3});
  Tensor grad = MakeTensor<float>(DType::kFloat32, {2, 1}, {1, 1});
  Tensor indices = MakeTensor<int64_t>(DType::kInt64, {2, 1}, {1, 0});
  Cancellation cancellation;
  cancellation.Cancel();
  CancellationScope scope(&cancellation);
  EXPECT_THAT(backend_.TopK(x, {.k = 1}),
              StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(backend_.Zeros(DType::kFloat32, {2, 3}),
              StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(backend_.Ones(DType::kInt8, {4}),
              StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(backend_.TopKBackward(grad, indices, {2, 3}, 1),
              StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(CpuCancellationTest, AScopeThatIsNotCancelledChangesNothing) {
  Tensor x = MakeTensor<float>(DType::kFloat32, {2, 3}, {1, 5, 2, 4, 0, 3});
  Cancellation cancellation;
  CancellationScope scope(&cancellation);
  absl::StatusOr<TopKResult> top = backend_.TopK(x, {.k = 1});
  ASSERT_THAT(top, IsOk());
  EXPECT_EQ(testing::Values<int64_t>(top->indices),
            std::vector<int64_t>({1, 0}));
}

// A long sort cancelled a tenth of the way in returns CANCELLED well before
// the uncancelled run's time: the remaining rows are never started.
TEST_F(CpuCancellationTest, CancellingMidwayStopsTheComputation) {
  constexpr int64_t kRows = 2048;
  constexpr int64_t kCols = 4096;
  std::vector<float> data(kRows * kCols);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (float& v : data) v = uniform(rng);
  Tensor x = MakeTensor<float>(DType::kFloat32, {kRows, kCols}, data);
  // A full sort per row: the slowest topk shape per byte.
  const TopKOptions options{.k = kCols};

  using Clock = std::chrono::steady_clock;
  const Clock::time_point full_start = Clock::now();
  ASSERT_THAT(backend_.TopK(x, options), IsOk());
  const Clock::duration full = Clock::now() - full_start;
  ASSERT_GT(full, std::chrono::milliseconds(20))
      << "the computation is too short to cancel midway on this machine";

  Cancellation cancellation;
  std::thread canceller([&cancellation, full] {
    std::this_thread::sleep_for(full / 10);
    cancellation.Cancel();
  });
  const Clock::time_point start = Clock::now();
  absl::StatusOr<TopKResult> cancelled;
  {
    CancellationScope scope(&cancellation);
    cancelled = backend_.TopK(x, options);
  }
  const Clock::duration elapsed = Clock::now() - start;
  canceller.join();
  EXPECT_THAT(cancelled, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_LT(elapsed, full * 3 / 4)
      << "full run " << std::chrono::duration<double>(full).count()
      << " s, cancelled run " << std::chrono::duration<double>(elapsed).count()
      << " s";

  // The backend keeps serving other calls.
  EXPECT_THAT(backend_.TopK(x, {.k = 3}), IsOk());
}

}  // namespace
}  // namespace tensorops
