#include "request/selection_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "tests/request/request_test_util.h"
#include "tests/support/status_matchers.h"

namespace tensorops::request {
namespace {

namespace v1 = ::tensorops::v1;
using ::tensorops::request::testing::Float32Tensor;
using ::tensorops::testing::IsOk;
using ::tensorops::testing::StatusIs;
using ::testing::HasSubstr;

template <typename Request>
Request Of(std::vector<int64_t> shape) {
  Request request;
  *request.mutable_input() = Float32Tensor(shape);
  return request;
}

absl::StatusOr<SelectionRequestPlan> Plan(const SelectionFields& fields,
                                          RequestLimits limits = {}) {
  return PlanSelectionRequest(fields, std::nullopt, limits);
}

TEST(SelectionRequestTest, EachRequestNamesItsOpAndKind) {
  EXPECT_EQ(FieldsOf(Of<v1::SortRequest>({2})).options.kind,
            SelectionKind::kSort);
  EXPECT_EQ(FieldsOf(Of<v1::KthValueRequest>({2})).op, SelectionOp::kKthValue);
  EXPECT_EQ(FieldsOf(Of<v1::MaxRequest>({2})).options.kind,
            SelectionKind::kMax);
  EXPECT_EQ(FieldsOf(Of<v1::MinRequest>({2})).options.kind,
            SelectionKind::kMin);
  EXPECT_EQ(FieldsOf(Of<v1::MedianRequest>({2})).op, SelectionOp::kMedian);
}

TEST(SelectionRequestTest, UnsetOptionsTakeTheProtoDefaults) {
  const v1::MaxRequest request = Of<v1::MaxRequest>({2, 5});
  const SelectionFields fields = FieldsOf(request);
  EXPECT_EQ(fields.options.dim, -1);
  EXPECT_FALSE(fields.options.keepdim);
  EXPECT_FALSE(fields.save_for_backward);
  absl::StatusOr<SelectionRequestPlan> plan = Plan(fields);
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->plan.output_shape, (Shape{2}));
  EXPECT_EQ(plan->wrapped_dim, 1);
  EXPECT_FALSE(plan->keeps_dim);
}

TEST(SelectionRequestTest, SortKeepsTheShapeAndItsOptions) {
  v1::SortRequest request = Of<v1::SortRequest>({3, 4});
  request.set_dim(0);
  request.set_descending(true);
  request.set_stable(true);
  absl::StatusOr<SelectionRequestPlan> plan = Plan(FieldsOf(request));
  ASSERT_THAT(plan, IsOk());
  EXPECT_TRUE(plan->plan.descending);
  EXPECT_TRUE(plan->fields.options.stable);
  EXPECT_EQ(plan->plan.output_shape, (Shape{3, 4}));
  EXPECT_TRUE(plan->keeps_dim);
}

TEST(SelectionRequestTest, KeepdimKeepsTheReducedDimension) {
  v1::MedianRequest request = Of<v1::MedianRequest>({3, 4});
  request.set_dim(-2);
  request.set_keepdim(true);
  absl::StatusOr<SelectionRequestPlan> plan = Plan(FieldsOf(request));
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->plan.output_shape, (Shape{1, 4}));
  EXPECT_EQ(plan->wrapped_dim, 0);
  EXPECT_TRUE(plan->keeps_dim);
}

TEST(SelectionRequestTest, AZeroDimInputKeepsItsDimEitherWay) {
  const v1::MinRequest request = Of<v1::MinRequest>({});
  absl::StatusOr<SelectionRequestPlan> plan = Plan(FieldsOf(request));
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->plan.output_shape, Shape{});
  EXPECT_TRUE(plan->keeps_dim);
}

TEST(SelectionRequestTest, SizesCoverValuesAndIndices) {
  v1::KthValueRequest request = Of<v1::KthValueRequest>({2, 5});
  request.set_k(3);
  absl::StatusOr<SelectionRequestPlan> plan = Plan(FieldsOf(request));
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->plan.rank, 2);
  EXPECT_EQ(plan->values_bytes, 2 * 4);
  EXPECT_EQ(plan->indices_bytes, 2 * 8);
  EXPECT_EQ(plan->work_bytes(), 10 * 4 + 2 * 4 + 2 * 8);
  EXPECT_GE(plan->response_bytes, 2 * 12);
}

TEST(SelectionRequestTest, RefusesAMissingInput) {
  EXPECT_THAT(Plan(FieldsOf(v1::SortRequest())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("input")));
}

TEST(SelectionRequestTest, RefusesKOutOfRange) {
  v1::KthValueRequest request = Of<v1::KthValueRequest>({4});
  request.set_k(5);
  EXPECT_THAT(Plan(FieldsOf(request)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected 1 <= k <= 4")));
}

TEST(SelectionRequestTest, RefusesAReductionOverAnEmptyDimension) {
  v1::MaxRequest request = Of<v1::MaxRequest>({2, 0});
  EXPECT_THAT(
      Plan(FieldsOf(request)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has size 0")));
}

TEST(SelectionRequestTest, RefusesBoolForMedian) {
  v1::MedianRequest request;
  request.mutable_input()->set_dtype(v1::DTYPE_BOOL);
  request.mutable_input()->add_shape(2);
  request.mutable_input()->set_data(std::string("\1\0", 2));
  EXPECT_THAT(Plan(FieldsOf(request)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bool")));
}

TEST(SelectionRequestTest, RefusesInputsOverTheElementLimit) {
  RequestLimits limits;
  limits.max_tensor_elements = 9;
  const v1::SortRequest request = Of<v1::SortRequest>({2, 5});
  EXPECT_THAT(Plan(FieldsOf(request), limits),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(SelectionRequestTest, RegionRefsAreNotedForTheirResults) {
  v1::SortRequest request = Of<v1::SortRequest>({2});
  request.mutable_indices_shared_memory()->set_region("r");
  const SelectionFields fields = FieldsOf(request);
  EXPECT_EQ(fields.values_shared_memory, nullptr);
  ASSERT_NE(fields.indices_shared_memory, nullptr);
  EXPECT_EQ(fields.indices_shared_memory->region(), "r");
}

}  // namespace
}  // namespace tensorops::request
