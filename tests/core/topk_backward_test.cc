#include <cstdint>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::MakeTensor;
using testing::StatusIs;
using testing::Values;

class TopKBackwardTest : public ::testing::Test {
 protected:
  CpuBackend backend_{CpuBackendOptions{.num_threads = 2}};
};

TEST_F(TopKBackwardTest, SeedExample) {
  Tensor grad = MakeTensor<float>(DType::kFloat32, {2}, {0.1f, 0.2f});
  Tensor indices = MakeTensor<int64_t>(DType::kInt64, {2}, {2, 0});
  absl::StatusOr<Tensor> g = backend_.TopKBackward(grad, indices, {4}, -1);
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->shape(), Shape({4}));
  EXPECT_THAT(Values<float>(*g), ElementsAre(0.2f, 0.0f, 0.1f, 0.0f));
}

TEST_F(TopKBackwardTest, ChainsWithTopKAlongEachDim) {
  Tensor x = MakeTensor<double>(DType::kFloat64, {2, 3}, {1, 5, 3, 9, 0, 4});
  absl::StatusOr<TopKResult> top = backend_.TopK(x, {.k = 2, .dim = 1});
  ASSERT_THAT(top, IsOk());
  Tensor ones = MakeTensor<double>(DType::kFloat64, {2, 2}, {1, 1, 1, 1});
  absl::StatusOr<Tensor> g =
      backend_.TopKBackward(ones, top->indices, {2, 3}, 1);
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT(Values<double>(*g), ElementsAre(0, 1, 1, 1, 0, 1));

  top = backend_.TopK(x, {.k = 1, .dim = 0});
  ASSERT_THAT(top, IsOk());
  Tensor grad = MakeTensor<double>(DType::kFloat64, {1, 3}, {10, 20, 30});
  g = backend_.TopKBackward(grad, top->indices, {2, 3}, 0);
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT(Values<double>(*g), ElementsAre(0, 20, 0, 10, 0, 30));
}

TEST_F(TopKBackwardTest, HalfTypesAndZeroD) {
  Tensor grad = MakeTensor<uint16_t>(DType::kBFloat16, {1}, {0x3f00});
  Tensor indices = MakeTensor<int64_t>(DType::kInt64, {1}, {1});
  absl::StatusOr<Tensor> g = backend_.TopKBackward(grad, indices, {3}, 0);
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT(Values<uint16_t>(*g), ElementsAre(0, 0x3f00, 0));

  Tensor scalar_grad = MakeTensor<float>(DType::kFloat32, {}, {0.5f});
  Tensor scalar_index = MakeTensor<int64_t>(DType::kInt64, {}, {0});
  g = backend_.TopKBackward(scalar_grad, scalar_index, {}, -1);
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->shape(), Shape{});
  EXPECT_THAT(Values<float>(*g), ElementsAre(0.5f));
}

TEST_F(TopKBackwardTest, EmptyGradGivesZeros) {
  Tensor grad = MakeTensor<float>(DType::kFloat32, {3, 0}, {});
  Tensor indices = MakeTensor<int64_t>(DType::kInt64, {3, 0}, {});
  absl::StatusOr<Tensor> g = backend_.TopKBackward(grad, indices, {3, 2}, 1);
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT(Values<float>(*g), ElementsAre(0, 0, 0, 0, 0, 0));
}

// Empty, with other dimensions whose product overflows int64 (found by
// tests/fuzz/request_fuzzer).
TEST_F(TopKBackwardTest, EmptyWithHugeOtherDimensions) {
  const int64_t huge = int64_t{1} << 62;
  const Shape shape = {huge, huge, 0};
  Tensor grad = MakeTensor<float>(DType::kFloat32, shape, {});
  Tensor indices = MakeTensor<int64_t>(DType::kInt64, shape, {});
  for (int64_t dim = 0; dim < 3; ++dim) {
    absl::StatusOr<Tensor> g = backend_.TopKBackward(grad, indices, shape, dim);
    ASSERT_THAT(g, IsOk());
    EXPECT_EQ(g->shape(), shape);
    EXPECT_EQ(g->num_elements(), 0);
  }
}

TEST_F(TopKBackwardTest, LastDuplicateIndexWins) {
  Tensor grad = MakeTensor<float>(DType::kFloat32, {3}, {1, 2, 3});
  Tensor indices = MakeTensor<int64_t>(DType::kInt64, {3}, {1, 1, 0});
  EXPECT_THAT(Values<float>(*backend_.TopKBackward(grad, indices, {3}, 0)),
              ElementsAre(3, 2, 0));
}

TEST_F(TopKBackwardTest, RejectsBadArguments) {
  Tensor grad = MakeTensor<float>(DType::kFloat32, {2}, {1, 2});
  Tensor indices = MakeTensor<int64_t>(DType::kInt64, {2}, {0, 1});
  Tensor int_grad = MakeTensor<int32_t>(DType::kInt32, {2}, {1, 2});
  EXPECT_THAT(backend_.TopKBackward(int_grad, indices, {4}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected a floating-point dtype")));
  Tensor int32_indices = MakeTensor<int32_t>(DType::kInt32, {2}, {0, 1});
  EXPECT_THAT(backend_.TopKBackward(grad, int32_indices, {4}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected int64")));
  Tensor three = MakeTensor<int64_t>(DType::kInt64, {3}, {0, 1, 2});
  EXPECT_THAT(backend_.TopKBackward(grad, three, {4}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected equal shapes")));
  EXPECT_THAT(backend_.TopKBackward(grad, indices, {4, 1}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected equal ranks")));
  EXPECT_THAT(backend_.TopKBackward(grad, indices, {1}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at most 1 along dim 0")));
  EXPECT_THAT(
      backend_.TopKBackward(grad, indices, {4}, 1),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[-1, 0]")));
  EXPECT_THAT(
      backend_.TopKBackward(grad, indices, {-4}, 0),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("negative")));
  Tensor out_of_range = MakeTensor<int64_t>(DType::kInt64, {2}, {0, 4});
  EXPECT_THAT(backend_.TopKBackward(grad, out_of_range, {4}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("indices element 1 (flat, row-major) is 4")));
  Tensor negative = MakeTensor<int64_t>(DType::kInt64, {2}, {-1, 0});
  EXPECT_THAT(backend_.TopKBackward(grad, negative, {4}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected 0 <= index < 4")));
  Tensor rows = MakeTensor<float>(DType::kFloat32, {2, 1}, {1, 2});
  Tensor row_indices = MakeTensor<int64_t>(DType::kInt64, {2, 1}, {0, 0});
  EXPECT_THAT(backend_.TopKBackward(rows, row_indices, {3, 4}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("mismatch at dimension 0")));
}

}  // namespace
}  // namespace tensorops
