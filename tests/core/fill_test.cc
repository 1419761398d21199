#include <cstdint>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using testing::IsOk;
using testing::MakeTensor;
using testing::StatusIs;
using testing::Values;

class FillTest : public ::testing::Test {
 protected:
  CpuBackend backend_{CpuBackendOptions{.num_threads = 2}};
};

TEST_F(FillTest, SeedExampleInt64) {
  Tensor x = MakeTensor<int64_t>(DType::kInt64, {2, 3}, {1, 2, 3, 4, 5, 6});
  absl::StatusOr<Tensor> zeros = ZerosLike(backend_, x);
  ASSERT_THAT(zeros, IsOk());
  EXPECT_EQ(zeros->dtype(), DType::kInt64);
  EXPECT_EQ(zeros->shape(), Shape({2, 3}));
  EXPECT_THAT(Values<int64_t>(*zeros), ElementsAre(0, 0, 0, 0, 0, 0));
  absl::StatusOr<Tensor> ones = OnesLike(backend_, x);
  ASSERT_THAT(ones, IsOk());
  EXPECT_THAT(Values<int64_t>(*ones), ElementsAre(1, 1, 1, 1, 1, 1));
}

TEST_F(FillTest, OnesHaveTheRightBitsForEveryDtype) {
  Tensor x = MakeTensor<float>(DType::kFloat32, {3}, {1, 2, 3});
  auto ones_bits = [&](DType dtype) {
    absl::StatusOr<Tensor> ones = OnesLike(backend_, x, dtype);
    EXPECT_THAT(ones, IsOk());
    EXPECT_EQ(ones->dtype(), dtype);
    return ones->Load<uint8_t>(0);  // checked below by dtype width
  };
  (void)ones_bits;
  EXPECT_THAT(Values<float>(*OnesLike(backend_, x)), Each(1.0f));
  EXPECT_THAT(Values<double>(*OnesLike(backend_, x, DType::kFloat64)),
              Each(1.0));
  EXPECT_THAT(Values<uint16_t>(*OnesLike(backend_, x, DType::kFloat16)),
              Each(0x3c00));
  EXPECT_THAT(Values<uint16_t>(*OnesLike(backend_, x, DType::kBFloat16)),
              Each(0x3f80));
  EXPECT_THAT(Values<int8_t>(*OnesLike(backend_, x, DType::kInt8)), Each(1));
  EXPECT_THAT(Values<int16_t>(*OnesLike(backend_, x, DType::kInt16)), Each(1));
  EXPECT_THAT(Values<int32_t>(*OnesLike(backend_, x, DType::kInt32)), Each(1));
  EXPECT_THAT(Values<uint8_t>(*OnesLike(backend_, x, DType::kUInt8)), Each(1));
  EXPECT_THAT(Values<uint8_t>(*OnesLike(backend_, x, DType::kBool)), Each(1));
  for (DType dtype : kAllDTypes) {
    absl::StatusOr<Tensor> zeros = ZerosLike(backend_, x, dtype);
    ASSERT_THAT(zeros, IsOk());
    EXPECT_EQ(zeros->dtype(), dtype);
    EXPECT_THAT(
        Values<uint8_t>(*Tensor::CopyOf(
            DType::kUInt8, {int64_t(zeros->byte_size())}, zeros->bytes())),
        Each(0));
  }
}

TEST_F(FillTest, ScalarsEmptiesAndLargeParallelFills) {
  EXPECT_THAT(Values<float>(*backend_.Ones(DType::kFloat32, {})),
              ElementsAre(1.0f));
  absl::StatusOr<Tensor> empty = backend_.Zeros(DType::kFloat32, {0, 5});
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->shape(), Shape({0, 5}));
  // Larger than one task: filled in parallel, every element written.
  for (int round = 0; round < 2; ++round) {
    absl::StatusOr<Tensor> big = backend_.Ones(DType::kInt16, {3, 1 << 20});
    ASSERT_THAT(big, IsOk());
    EXPECT_THAT(Values<int16_t>(*big), Each(1));
    absl::StatusOr<Tensor> zeros = backend_.Zeros(DType::kInt16, {3, 1 << 20});
    EXPECT_THAT(Values<int16_t>(*zeros), Each(0));
  }
}

TEST_F(FillTest, RejectsBadShapes) {
  EXPECT_THAT(backend_.Zeros(DType::kFloat32, {2, -3}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("negative")));
}

}  // namespace
}  // namespace tensorops
