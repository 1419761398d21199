#include "request/limits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/status_matchers.h"

namespace tensorops::request {
namespace {

using ::tensorops::testing::IsOk;
using ::tensorops::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr RequestLimits kSmall{.max_message_bytes = 1000,
                               .max_tensor_elements = 10};

TEST(RequestLimitsTest, DefaultsAreTheDocumentedFlagDefaults) {
  EXPECT_EQ(RequestLimits{}.max_message_bytes, int64_t{600} << 20);
  EXPECT_EQ(RequestLimits{}.max_tensor_elements, int64_t{1} << 28);
}

TEST(RequestLimitsTest, RequestAtTheLimitIsAccepted) {
  EXPECT_THAT(CheckRequestSize(kSmall, 1000), IsOk());
}

TEST(RequestLimitsTest, RequestOverTheLimitNamesTheFlag) {
  EXPECT_THAT(CheckRequestSize(kSmall, 1001),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("1001 bytes"),
                             HasSubstr("--max_message_bytes"))));
}

TEST(RequestLimitsTest, ElementsAtTheLimitAreAccepted) {
  const Shape shape = {2, 5};
  EXPECT_THAT(CheckElementLimit(kSmall, shape, "input"), IsOk());
}

TEST(RequestLimitsTest, ElementsOverTheLimitNameTheTensorAndFlag) {
  const Shape shape = {11};
  EXPECT_THAT(CheckElementLimit(kSmall, shape, "grad_values"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("grad_values has 11 elements"),
                             HasSubstr("--max_tensor_elements"))));
}

TEST(RequestLimitsTest, OverflowingElementCountIsRefused) {
  const Shape shape = {int64_t{1} << 40, int64_t{1} << 40};
  EXPECT_THAT(CheckElementLimit(kSmall, shape, "input"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("more than 2^63")));
}

TEST(RequestLimitsTest, ResponseBoundAddsTheEncodingOverhead) {
  // Two tensors of rank 3 each: 6 dims x 10 bytes + 64 x 3.
  absl::StatusOr<int64_t> bound = ResponseBound(kSmall, 100, 6, 2);
  ASSERT_THAT(bound, IsOk());
  EXPECT_EQ(*bound, 100 + 60 + 192);
}

TEST(RequestLimitsTest, ResponseOverTheLimitNamesTheFlag) {
  EXPECT_THAT(ResponseBound(kSmall, 900, 1, 1),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("900 bytes of tensor data"),
                             HasSubstr("--max_message_bytes"))));
}

}  // namespace
}  // namespace tensorops::request
