// PlanSelection (core/op_plans.h): the arguments the selection family
// accepts and the shapes of its results, one rule per test.
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/backend.h"
#include "core/chunked_tensor.h"
#include "core/cpu/cpu_backend.h"
#include "core/op_plans.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops {
namespace {

using ::testing::HasSubstr;
using testing::IsOk;
using testing::MakeTensor;
using testing::StatusIs;

absl::StatusOr<SelectionPlan> Plan(SelectionKind kind, ShapeView shape,
                                   SelectionOptions options = {},
                                   DType dtype = DType::kFloat32) {
  options.kind = kind;
  return PlanSelection(dtype, shape, options);
}

TEST(SelectionPlanTest, SortKeepsTheInputShape) {
  absl::StatusOr<SelectionPlan> plan =
      Plan(SelectionKind::kSort, {2, 3}, {.dim = 0, .descending = true});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->output_shape, Shape({2, 3}));
  EXPECT_EQ(plan->input.dim, 0);
  EXPECT_EQ(plan->input.size, 2);
  EXPECT_EQ(plan->input.inner, 3);
  EXPECT_TRUE(plan->descending);
  EXPECT_FALSE(plan->reduces());
}

TEST(SelectionPlanTest, DescendingIsOnlyForSort) {
  absl::StatusOr<SelectionPlan> plan =
      Plan(SelectionKind::kMax, {4}, {.descending = true});
  ASSERT_THAT(plan, IsOk());
  EXPECT_FALSE(plan->descending);
}

TEST(SelectionPlanTest, ReductionDropsDimByDefault) {
  absl::StatusOr<SelectionPlan> plan =
      Plan(SelectionKind::kMax, {2, 3, 4}, {.dim = 1});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->output_shape, Shape({2, 4}));
  EXPECT_TRUE(plan->reduces());
}

TEST(SelectionPlanTest, ReductionWithKeepdimKeepsSizeOne) {
  absl::StatusOr<SelectionPlan> plan =
      Plan(SelectionKind::kMin, {2, 3, 4}, {.dim = -1, .keepdim = true});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->output_shape, Shape({2, 3, 1}));
  EXPECT_EQ(plan->input.dim, 2);
}

TEST(SelectionPlanTest, ZeroDimInputReducesToItself) {
  for (bool keepdim : {false, true}) {
    absl::StatusOr<SelectionPlan> plan =
        Plan(SelectionKind::kMedian, {}, {.dim = 0, .keepdim = keepdim});
    ASSERT_THAT(plan, IsOk());
    EXPECT_EQ(plan->output_shape, Shape({}));
    EXPECT_EQ(plan->rank, 0);
  }
}

TEST(SelectionPlanTest, ZeroDimInputRefusesOtherDims) {
  EXPECT_THAT(Plan(SelectionKind::kSort, {}, {.dim = 1}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SelectionPlanTest, DimOutOfRangeIsRefused) {
  EXPECT_THAT(Plan(SelectionKind::kMax, {2, 3}, {.dim = 2}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Plan(SelectionKind::kMax, {2, 3}, {.dim = -3}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SelectionPlanTest, ReductionOverEmptyDimIsRefusedAsInPyTorch) {
  for (SelectionKind kind :
       {SelectionKind::kMax, SelectionKind::kMin, SelectionKind::kMedian,
        SelectionKind::kKthValue}) {
    EXPECT_THAT(Plan(kind, {3, 0}, {.dim = 1}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("Expected reduction dim 1 to have non-zero "
                                   "size")))
        << SelectionKindName(kind);
  }
}

TEST(SelectionPlanTest, ReductionAlongAnotherDimOfAnEmptyInputWorks) {
  absl::StatusOr<SelectionPlan> plan =
      Plan(SelectionKind::kMax, {0, 5}, {.dim = 1});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->output_shape, Shape({0}));
}

TEST(SelectionPlanTest, SortOfAnEmptyDimWorks) {
  absl::StatusOr<SelectionPlan> plan = Plan(SelectionKind::kSort, {3, 0});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->output_shape, Shape({3, 0}));
}

TEST(SelectionPlanTest, KthValueRankIsKMinusOne) {
  absl::StatusOr<SelectionPlan> plan =
      Plan(SelectionKind::kKthValue, {2, 5}, {.k = 5});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->rank, 4);
}

TEST(SelectionPlanTest, KthValueKOutOfRangeNamesTheRange) {
  for (int64_t k : {0, 6}) {
    EXPECT_THAT(Plan(SelectionKind::kKthValue, {2, 5}, {.k = k}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("expected 1 <= k <= 5")));
  }
}

TEST(SelectionPlanTest, KthValueOfZeroDimInputTakesOnlyKOne) {
  EXPECT_THAT(Plan(SelectionKind::kKthValue, {}, {.k = 1}), IsOk());
  EXPECT_THAT(Plan(SelectionKind::kKthValue, {}, {.k = 2}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SelectionPlanTest, MedianRankIsTheLowerMiddle) {
  absl::StatusOr<SelectionPlan> even = Plan(SelectionKind::kMedian, {4});
  absl::StatusOr<SelectionPlan> odd = Plan(SelectionKind::kMedian, {5});
  ASSERT_THAT(even, IsOk());
  ASSERT_THAT(odd, IsOk());
  EXPECT_EQ(even->rank, 1);
  EXPECT_EQ(odd->rank, 2);
}

TEST(SelectionPlanTest, BoolIsRefusedByKthValueAndMedianOnly) {
  for (SelectionKind kind :
       {SelectionKind::kKthValue, SelectionKind::kMedian}) {
    EXPECT_THAT(Plan(kind, {3}, {}, DType::kBool),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("not implemented for bool")));
  }
  for (SelectionKind kind :
       {SelectionKind::kSort, SelectionKind::kMax, SelectionKind::kMin}) {
    EXPECT_THAT(Plan(kind, {3}, {}, DType::kBool), IsOk());
  }
}

TEST(SelectionPlanTest, AllocatedResultHasThePlannedShapes) {
  absl::StatusOr<SelectionPlan> plan =
      Plan(SelectionKind::kMax, {2, 3}, {.dim = 0, .keepdim = true},
           DType::kFloat16);
  ASSERT_THAT(plan, IsOk());
  absl::StatusOr<SelectionResult> result =
      AllocateSelectionResult(DType::kFloat16, *plan);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->values.dtype(), DType::kFloat16);
  EXPECT_EQ(result->values.shape(), Shape({1, 3}));
  EXPECT_EQ(result->indices.dtype(), DType::kInt64);
  EXPECT_EQ(result->indices.shape(), Shape({1, 3}));
}

// A backend that has only the kernels every backend must have, as the CUDA
// backend is for selection: Select validates first, then the default
// RunSelect answers UNIMPLEMENTED naming the operation and the backend.
class BackendWithoutSelection final : public Backend {
 public:
  std::string_view name() const override { return "test"; }
  absl::Status RunFill(uint64_t, Tensor&) override {
    return absl::InternalError("not used");
  }
  absl::Status RunTopK(const Tensor&, const TopKPlan&, const TopKOptions&,
                       TopKResult&) override {
    return absl::InternalError("not used");
  }
  absl::Status RunTopKBackward(const Tensor&, const Tensor&,
                               const TopKBackwardPlan&, Tensor&) override {
    return absl::InternalError("not used");
  }
};

TEST(SelectionPlanTest, BackendWithoutKernelsAnswersUnimplemented) {
  BackendWithoutSelection backend;
  const Tensor input = MakeTensor<float>(DType::kFloat32, {3}, {1, 2, 3});
  EXPECT_THAT(backend.Select(input, {.kind = SelectionKind::kSort}),
              StatusIs(absl::StatusCode::kUnimplemented,
                       HasSubstr("sort is not implemented on the test")));
  EXPECT_THAT(backend.Select(input, {.kind = SelectionKind::kSort, .dim = 1}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// The elements of `tensor` as T, for comparing results.
template <typename T>
std::vector<T> Elements(const Tensor& tensor) {
  std::vector<T> elements(tensor.byte_size() / sizeof(T));
  std::memcpy(elements.data(), tensor.data(), tensor.byte_size());
  return elements;
}

TEST(SelectionPlanTest, FallbackServesSelectionTheBackendLacks) {
  BackendWithoutSelection backend;
  backend.SetSelectionFallback(std::make_unique<CpuBackend>());
  const Tensor input =
      MakeTensor<float>(DType::kFloat32, {2, 3}, {3, 1, 2, -1, 5, 5});
  absl::StatusOr<SelectionResult> result =
      backend.Select(input, {.kind = SelectionKind::kMax, .dim = 1});
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(Elements<float>(result->values), std::vector<float>({3, 5}));
  EXPECT_EQ(Elements<int64_t>(result->indices), std::vector<int64_t>({0, 1}));
}

TEST(SelectionPlanTest, FallbackServesSelectionOfChunks) {
  BackendWithoutSelection backend;
  backend.SetSelectionFallback(std::make_unique<CpuBackend>());
  const std::vector<float> data = {4, 2, 9, 1};
  const auto* bytes = reinterpret_cast<const std::byte*>(data.data());
  absl::StatusOr<ChunkedTensor> input = ChunkedTensor::View(
      DType::kFloat32, {4},
      ChunkedBytes({absl::Span<const std::byte>(bytes, 6),
                    absl::Span<const std::byte>(bytes + 6, 10)}),
      nullptr);
  ASSERT_THAT(input, IsOk());
  absl::StatusOr<SelectionResult> result =
      backend.SelectOfChunks(*input, {.kind = SelectionKind::kSort}, {});
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(Elements<float>(result->values), std::vector<float>({1, 2, 4, 9}));
  EXPECT_EQ(Elements<int64_t>(result->indices),
            std::vector<int64_t>({3, 1, 0, 2}));
}

TEST(SelectionPlanTest, FallbackLeavesArgumentErrorsToTheBackend) {
  BackendWithoutSelection backend;
  backend.SetSelectionFallback(std::make_unique<CpuBackend>());
  const Tensor input = MakeTensor<float>(DType::kFloat32, {3}, {1, 2, 3});
  EXPECT_THAT(backend.Select(input, {.kind = SelectionKind::kMax, .dim = 1}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace tensorops
