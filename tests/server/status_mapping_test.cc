// The one mapping from absl::Status to grpc::Status.
#include "server/status_mapping.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tensorops::server {
namespace {

using ::testing::EndsWith;
using ::testing::StartsWith;

TEST(StatusMappingTest, KeepsTheCodeAndAShortMessage) {
  const grpc::Status status =
      ToGrpcStatus(absl::NotFoundError("session \"x\" expired"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "session \"x\" expired");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(StatusMappingTest, CutsLongMessages) {
  const std::string message = "k is 3; " + std::string(100000, 'x');
  const grpc::Status status = ToGrpcStatus(absl::InvalidArgumentError(message));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().size(), kMaxStatusMessageBytes);
  EXPECT_THAT(status.error_message(), StartsWith("k is 3; xxx"));
  EXPECT_THAT(status.error_message(), EndsWith("... (message truncated)"));
  const std::string exact(kMaxStatusMessageBytes, 'y');
  EXPECT_EQ(ToGrpcStatus(absl::InternalError(exact)).error_message(), exact);
}

}  // namespace
}  // namespace tensorops::server
