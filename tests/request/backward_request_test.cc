#include "request/backward_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/request/request_test_util.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops::request {
namespace {

namespace v1 = ::tensorops::v1;
using ::tensorops::request::testing::Float32Tensor;
using ::tensorops::request::testing::Int64Tensor;
using ::tensorops::testing::IsOk;
using ::tensorops::testing::MakeTensor;
using ::tensorops::testing::StatusIs;
using ::testing::HasSubstr;

// A stateless Backward of a [2, 3] input with k = 2 along dim 1.
v1::BackwardRequest Stateless() {
  v1::BackwardRequest request;
  *request.mutable_grad_values() = Float32Tensor({2, 2});
  *request.mutable_indices() = Int64Tensor({2, 2}, {2, 0, 1, 2});
  request.add_input_shape(2);
  request.add_input_shape(3);
  request.set_dim(1);
  return request;
}

v1::BackwardRequest WithSession() {
  v1::BackwardRequest request;
  *request.mutable_grad_values() = Float32Tensor({2, 2});
  request.set_session_id("s");
  return request;
}

SavedSelection Saved() {
  return SavedSelection{
      .indices = MakeTensor<int64_t>(DType::kInt64, {2, 2}, {2, 0, 1, 2}),
      .input_shape = {2, 3},
      .dim = 1,
      .op = SelectionOp::kTopK};
}

TEST(BackwardRequestTest, StatelessFormPlansTheScatter) {
  absl::StatusOr<BackwardInputs> inputs =
      DecodeBackwardRequest(Stateless(), RequestLimits{});
  ASSERT_THAT(inputs, IsOk());
  EXPECT_FALSE(inputs->uses_session);
  absl::StatusOr<BackwardRequestPlan> plan =
      PlanBackwardRequest(*std::move(inputs), nullptr, RequestLimits{});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->input_shape, (Shape{2, 3}));
  EXPECT_EQ(plan->dim, 1);
  EXPECT_EQ(plan->output_bytes, 24);
  EXPECT_EQ(plan->work_bytes(), 16 + 32 + 24);
}

TEST(BackwardRequestTest, UnsetDimMeansTheLast) {
  v1::BackwardRequest request = Stateless();
  request.clear_dim();
  absl::StatusOr<BackwardInputs> inputs =
      DecodeBackwardRequest(request, RequestLimits{});
  ASSERT_THAT(inputs, IsOk());
  EXPECT_EQ(inputs->dim, -1);
}

TEST(BackwardRequestTest, SessionFormTakesTheSavedGeometry) {
  absl::StatusOr<BackwardInputs> inputs =
      DecodeBackwardRequest(WithSession(), RequestLimits{});
  ASSERT_THAT(inputs, IsOk());
  EXPECT_TRUE(inputs->uses_session);
  const SavedSelection saved = Saved();
  absl::StatusOr<BackwardRequestPlan> plan =
      PlanBackwardRequest(*std::move(inputs), &saved, RequestLimits{});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->input_shape, (Shape{2, 3}));
  EXPECT_EQ(plan->dim, 1);
  ASSERT_EQ(plan->indices.bytes().chunks().size(), 1u);
  EXPECT_EQ(plan->indices.bytes().chunks()[0].data(),
            saved.indices.data());  // not a copy
}

TEST(BackwardRequestTest, GradientNotFittingTheSessionNamesTheSavingOp) {
  v1::BackwardRequest request = WithSession();
  *request.mutable_grad_values() = Float32Tensor({2, 3});
  absl::StatusOr<BackwardInputs> inputs =
      DecodeBackwardRequest(request, RequestLimits{});
  ASSERT_THAT(inputs, IsOk());
  const SavedSelection saved = Saved();
  EXPECT_THAT(PlanBackwardRequest(*std::move(inputs), &saved, RequestLimits{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not fit the saved TopK")));
}

TEST(BackwardRequestTest, SessionStateMustMatchTheForm) {
  absl::StatusOr<BackwardInputs> inputs =
      DecodeBackwardRequest(WithSession(), RequestLimits{});
  ASSERT_THAT(inputs, IsOk());
  EXPECT_THAT(PlanBackwardRequest(*std::move(inputs), nullptr, RequestLimits{}),
              StatusIs(absl::StatusCode::kInternal));
}

TEST(BackwardRequestTest, ResultOverTheElementLimitIsRefused) {
  absl::StatusOr<BackwardInputs> inputs =
      DecodeBackwardRequest(Stateless(), RequestLimits{});
  ASSERT_THAT(inputs, IsOk());
  EXPECT_THAT(PlanBackwardRequest(*std::move(inputs), nullptr,
                                  RequestLimits{.max_tensor_elements = 5}),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("the gradient of input_shape")));
}

using BadBackward = testing::BadRequest<v1::BackwardRequest>;

class BadBackwardTest : public ::testing::TestWithParam<BadBackward> {};

TEST_P(BadBackwardTest, IsRefusedBeforeAnySessionIsTouched) {
  EXPECT_THAT(DecodeBackwardRequest(GetParam().request, GetParam().limits),
              StatusIs(GetParam().code, HasSubstr(GetParam().message)));
}

v1::BackwardRequest Without(v1::BackwardRequest request,
                            const std::string& field) {
  if (field == "grad_values") request.clear_grad_values();
  if (field == "indices") request.clear_indices();
  return request;
}

v1::BackwardRequest SessionWithDim() {
  v1::BackwardRequest request = WithSession();
  request.set_dim(0);
  return request;
}

// A reduction's stateless Backward: grad and indices [2] of input [2, 3]
// along dim 1, which the reduction dropped.
v1::BackwardRequest ReducedStateless() {
  v1::BackwardRequest request;
  *request.mutable_grad_values() = Float32Tensor({2});
  *request.mutable_indices() = Int64Tensor({2}, {2, 0});
  request.add_input_shape(2);
  request.add_input_shape(3);
  request.set_dim(-1);
  request.set_keepdim(false);
  return request;
}

TEST(BackwardRequestTest, UnsetKeepdimMeansTheDimIsKept) {
  absl::StatusOr<BackwardInputs> inputs =
      DecodeBackwardRequest(Stateless(), RequestLimits{});
  ASSERT_THAT(inputs, IsOk());
  EXPECT_TRUE(inputs->keeps_dim);
}

TEST(BackwardRequestTest, StatelessWithoutKeepdimPutsTheDimBack) {
  absl::StatusOr<BackwardInputs> inputs =
      DecodeBackwardRequest(ReducedStateless(), RequestLimits{});
  ASSERT_THAT(inputs, IsOk());
  EXPECT_FALSE(inputs->keeps_dim);
  absl::StatusOr<BackwardRequestPlan> plan =
      PlanBackwardRequest(*std::move(inputs), nullptr, RequestLimits{});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->dim, 1);
  EXPECT_EQ(plan->grad.shape(), (Shape{2, 1}));
  EXPECT_EQ(plan->indices.shape(), (Shape{2, 1}));
  EXPECT_EQ(plan->input_shape, (Shape{2, 3}));
}

TEST(BackwardRequestTest, SessionOfAReductionPutsTheDimBack) {
  v1::BackwardRequest request;
  *request.mutable_grad_values() = Float32Tensor({3});
  request.set_session_id("s");
  absl::StatusOr<BackwardInputs> inputs =
      DecodeBackwardRequest(request, RequestLimits{});
  ASSERT_THAT(inputs, IsOk());
  const SavedSelection saved{
      .indices = MakeTensor<int64_t>(DType::kInt64, {3}, {1, 0, 1}),
      .input_shape = {2, 3},
      .dim = 0,
      .op = SelectionOp::kMax,
      .keeps_dim = false};
  absl::StatusOr<BackwardRequestPlan> plan =
      PlanBackwardRequest(*std::move(inputs), &saved, RequestLimits{});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->grad.shape(), (Shape{1, 3}));
  EXPECT_EQ(plan->indices.shape(), (Shape{1, 3}));
}

TEST(BackwardRequestTest, RefusesAReducedGradientOfTheWrongRank) {
  v1::BackwardRequest request = ReducedStateless();
  *request.mutable_grad_values() = Float32Tensor({2, 1});
  *request.mutable_indices() = Int64Tensor({2, 1}, {2, 0});
  absl::StatusOr<BackwardInputs> inputs =
      DecodeBackwardRequest(request, RequestLimits{});
  ASSERT_THAT(inputs, IsOk());
  EXPECT_THAT(PlanBackwardRequest(*std::move(inputs), nullptr, RequestLimits{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected rank 1")));
}

TEST(BackwardRequestTest, RefusesKeepdimWithASession) {
  v1::BackwardRequest request = WithSession();
  request.set_keepdim(false);
  EXPECT_THAT(DecodeBackwardRequest(request, RequestLimits{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keepdim must be left unset")));
}

v1::BackwardRequest NegativeInputShape() {
  v1::BackwardRequest request = Stateless();
  request.set_input_shape(0, -2);
  return request;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, BadBackwardTest,
    ::testing::Values(
        BadBackward{"MissingGradient", Without(Stateless(), "grad_values"),
                    RequestLimits{}, absl::StatusCode::kInvalidArgument,
                    "grad_values is not set"},
        BadBackward{"MissingIndicesWithoutSession",
                    Without(Stateless(), "indices"), RequestLimits{},
                    absl::StatusCode::kInvalidArgument, "indices is not set"},
        BadBackward{"SessionWithStatelessFields", SessionWithDim(),
                    RequestLimits{}, absl::StatusCode::kInvalidArgument,
                    "must be left unset when session_id is given"},
        BadBackward{"NegativeInputShape", NegativeInputShape(), RequestLimits{},
                    absl::StatusCode::kInvalidArgument, "input_shape"},
        BadBackward{"GradientOverTheElementLimit", Stateless(),
                    RequestLimits{.max_tensor_elements = 3},
                    absl::StatusCode::kResourceExhausted, "grad_values has"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tensorops::request
