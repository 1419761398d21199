// --log_requests: one line per finished call, naming the caller without its
// token; off by default.
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_process.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

constexpr char kToken[] = "s3cret-token-for-the-log-test";

// A TopK of [3, 1, 4, 2] k=2 with `token`; its status code.
grpc::StatusCode TopKWithToken(const ServerProcess& server,
                               const std::string& token) {
  auto stub = v1::TensorOps::NewStub(server.NewChannel());
  std::unique_ptr<grpc::ClientContext> context = ContextWithTimeout();
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  v1::TopKResponse response;
  return stub->TopK(context.get(), TopKOf({3, 1, 4, 2}, 2), &response)
      .error_code();
}

TEST(RequestLogTest, EveryFinishedCallIsOneLineWithoutTheToken) {
  const std::string tokens = ::testing::TempDir() + "/request_log_tokens";
  std::ofstream(tokens) << kToken << "\n";
  auto server = ServerProcess::Start(
      {"--log_requests", absl::StrCat("--auth_tokens_file=", tokens)});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(TopKWithToken(*server, kToken), grpc::StatusCode::OK);
  EXPECT_EQ(TopKWithToken(*server, ""), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(server->process().WaitForOutput("call TopK UNAUTHENTICATED",
                                              absl::Seconds(10)))
      << server->process().Output();
  const std::string output = server->process().Output();
  EXPECT_THAT(output, HasSubstr("call TopK OK "));
  const size_t request_bytes = TopKOf({3, 1, 4, 2}, 2).ByteSizeLong();
  EXPECT_THAT(output, HasSubstr(absl::StrCat(" ms, request ", request_bytes,
                                             " bytes, response ")));
  EXPECT_THAT(output, HasSubstr(" bytes, caller token#"));
  EXPECT_THAT(output, HasSubstr(" bytes, caller anonymous"));
  EXPECT_THAT(output, HasSubstr("call TopK UNAUTHENTICATED "));
  EXPECT_THAT(output, Not(HasSubstr(kToken)));
}

TEST(RequestLogTest, IsOffByDefault) {
  auto server = ServerProcess::Start({});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(TopKWithToken(*server, ""), grpc::StatusCode::OK);
  // Recorded in the metrics just before it would be logged.
  ASSERT_THAT(server->WaitForMetric(RequestsSeries("TopK", "OK"), 1),
              Optional(1.0));
  EXPECT_THAT(server->process().Output(), Not(HasSubstr("call TopK")));
}

}  // namespace
}  // namespace tensorops::server::testing
