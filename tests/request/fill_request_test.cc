#include "request/fill_request.h"

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

v1::ZerosLikeRequest ZerosLike(std::vector<int64_t> shape, int dtype = 0) {
  v1::ZerosLikeRequest request;
  *request.mutable_input() = Float32Tensor(shape);
  request.set_dtype(static_cast<v1::DType>(dtype));
  return request;
}

TEST(FillRequestTest, ShapeAndDtypeComeFromTheInput) {
  absl::StatusOr<FillPlan> plan =
      PlanZerosLike(ZerosLike({2, 3}), std::nullopt, RequestLimits{});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->dtype, DType::kFloat32);
  EXPECT_EQ(plan->shape, (Shape{2, 3}));
  EXPECT_FALSE(plan->ones);
  EXPECT_EQ(plan->output_bytes, 24);
  EXPECT_GE(plan->response_bytes, 24);
}

TEST(FillRequestTest, RequestedDtypeOverridesTheInputs) {
  absl::StatusOr<FillPlan> plan = PlanZerosLike(
      ZerosLike({4}, v1::DTYPE_FLOAT16), std::nullopt, RequestLimits{});
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->dtype, DType::kFloat16);
  EXPECT_EQ(plan->output_bytes, 8);
}

TEST(FillRequestTest, OnesLikeAsksForOnes) {
  v1::OnesLikeRequest request;
  *request.mutable_input() = Float32Tensor({1});
  absl::StatusOr<FillPlan> plan =
      PlanOnesLike(request, std::nullopt, RequestLimits{});
  ASSERT_THAT(plan, IsOk());
  EXPECT_TRUE(plan->ones);
}

TEST(FillRequestTest, DataIsOptional) {
  v1::ZerosLikeRequest request = ZerosLike({3});
  request.mutable_input()->clear_data();
  EXPECT_THAT(PlanZerosLike(request, std::nullopt, RequestLimits{}), IsOk());
}

using BadFill = testing::BadRequest<v1::ZerosLikeRequest>;

class BadFillTest : public ::testing::TestWithParam<BadFill> {};

TEST_P(BadFillTest, IsRefused) {
  EXPECT_THAT(
      PlanZerosLike(GetParam().request, std::nullopt, GetParam().limits),
      StatusIs(GetParam().code, HasSubstr(GetParam().message)));
}

INSTANTIATE_TEST_SUITE_P(
    Rules, BadFillTest,
    ::testing::Values(
        BadFill{"MissingInput", v1::ZerosLikeRequest(), RequestLimits{},
                absl::StatusCode::kInvalidArgument, "input is not set"},
        BadFill{"UnknownDtype", ZerosLike({2}, 99), RequestLimits{},
                absl::StatusCode::kInvalidArgument, "dtype"},
        BadFill{"TooManyElements", ZerosLike({11}),
                RequestLimits{.max_tensor_elements = 10},
                absl::StatusCode::kResourceExhausted, "--max_tensor_elements"},
        BadFill{"ResponseTooLarge", ZerosLike({64}),
                RequestLimits{.max_message_bytes = 200},
                absl::StatusCode::kResourceExhausted, "--max_message_bytes"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tensorops::request
