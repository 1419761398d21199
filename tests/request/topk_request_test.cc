#include "request/topk_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
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

v1::TopKRequest TopK(std::vector<int64_t> shape, int64_t k) {
  v1::TopKRequest request;
  *request.mutable_input() = Float32Tensor(shape);
  request.set_k(k);
  return request;
}

TEST(TopKRequestTest, UnsetOptionsTakeTheProtoDefaults) {
  absl::StatusOr<TopKRequestPlan> plan =
      PlanTopKRequest(TopK({2, 5}, 3), std::nullopt, RequestLimits{});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->call.options.k, 3);
  EXPECT_EQ(plan->call.options.dim, -1);
  EXPECT_TRUE(plan->call.options.largest);
  EXPECT_TRUE(plan->call.options.sorted);
  EXPECT_EQ(plan->call.plan.output_shape, (Shape{2, 3}));
}

TEST(TopKRequestTest, SetOptionsAreKept) {
  v1::TopKRequest request = TopK({4, 2}, 1);
  request.set_dim(0);
  request.set_largest(false);
  request.set_sorted(false);
  absl::StatusOr<TopKRequestPlan> plan =
      PlanTopKRequest(request, std::nullopt, RequestLimits{});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->call.options.dim, 0);
  EXPECT_FALSE(plan->call.options.largest);
  EXPECT_FALSE(plan->call.options.sorted);
  EXPECT_EQ(plan->call.plan.output_shape, (Shape{1, 2}));
}

TEST(TopKRequestTest, SizesCoverValuesAndIndices) {
  absl::StatusOr<TopKRequestPlan> plan =
      PlanTopKRequest(TopK({2, 5}, 3), std::nullopt, RequestLimits{});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->call.values_bytes, 6 * 4);
  EXPECT_EQ(plan->call.indices_bytes, 6 * 8);
  EXPECT_EQ(plan->work_bytes(), 10 * 4 + 6 * 4 + 6 * 8);
  EXPECT_GE(plan->call.response_bytes, 6 * 12);
}

TEST(TopKRequestTest, SaveForBackwardWrapsTheDim) {
  v1::TopKRequest request = TopK({2, 5}, 3);
  request.set_save_for_backward(true);
  absl::StatusOr<TopKRequestPlan> plan =
      PlanTopKRequest(request, std::nullopt, RequestLimits{});
  ASSERT_THAT(plan, IsOk());
  EXPECT_TRUE(plan->call.save_for_backward);
  EXPECT_EQ(plan->call.wrapped_dim, 1);
}

TEST(TopKRequestTest, LiftedDataReplacesTheMessagesData) {
  v1::TopKRequest whole = TopK({4}, 2);
  v1::TopKRequest rest = whole;
  const std::string data = rest.input().data();
  rest.mutable_input()->clear_data();
  const ChunkedBytes lifted({absl::Span<const std::byte>(
      reinterpret_cast<const std::byte*>(data.data()), data.size())});
  absl::StatusOr<TopKRequestPlan> plan =
      PlanTopKRequest(rest, lifted, RequestLimits{});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->input.byte_size(), 16u);
}

using BadTopK = testing::BadRequest<v1::TopKRequest>;

class BadTopKTest : public ::testing::TestWithParam<BadTopK> {};

TEST_P(BadTopKTest, IsRefused) {
  EXPECT_THAT(
      PlanTopKRequest(GetParam().request, std::nullopt, GetParam().limits),
      StatusIs(GetParam().code, HasSubstr(GetParam().message)));
}

v1::TopKRequest WithDim(v1::TopKRequest request, int64_t dim) {
  request.set_dim(dim);
  return request;
}

v1::TopKRequest WithShortData(v1::TopKRequest request) {
  request.mutable_input()->mutable_data()->resize(4);
  return request;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, BadTopKTest,
    ::testing::Values(
        BadTopK{"MissingInput", v1::TopKRequest(), RequestLimits{},
                absl::StatusCode::kInvalidArgument, "input is not set"},
        BadTopK{"DataShorterThanShape", WithShortData(TopK({4}, 1)),
                RequestLimits{}, absl::StatusCode::kInvalidArgument, "input"},
        BadTopK{"KAboveTheDimension", TopK({4}, 5), RequestLimits{},
                absl::StatusCode::kInvalidArgument, "k"},
        BadTopK{"DimOutOfRange", WithDim(TopK({4}, 1), 1), RequestLimits{},
                absl::StatusCode::kInvalidArgument, "dim"},
        BadTopK{"TooManyElements", TopK({11}, 1),
                RequestLimits{.max_tensor_elements = 10},
                absl::StatusCode::kResourceExhausted, "--max_tensor_elements"},
        BadTopK{"ResponseTooLarge", TopK({64}, 64),
                RequestLimits{.max_message_bytes = 300},
                absl::StatusCode::kResourceExhausted, "--max_message_bytes"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tensorops::request
