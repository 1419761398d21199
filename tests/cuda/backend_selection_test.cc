// The server's --backend choice: auto falls back to the CPU (and logs why)
// when the CUDA backend is unavailable, cuda refuses to start without it,
// and the choice shows in GetServerInfo and /metrics.
#include <memory>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "core/cuda/cuda_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "server/server_config.h"
#include "tests/server/server_test_util.h"
#include "tests/support/status_matchers.h"

ABSL_DECLARE_FLAG(std::string, backend);

namespace tensorops::server {
namespace {

using ::tensorops::testing::StatusIs;
using testing::ContextWithTimeout;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TestConfig;
using testing::TestServer;

bool CudaUsable() { return MakeCudaBackend().ok(); }

TEST(BackendSelectionTest, AutoUsesCudaWhenUsableElseCpuAndSaysWhy) {
  ServerConfig config = TestConfig();
  config.backend = BackendChoice::kAuto;
  ::testing::internal::CaptureStderr();
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(config);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(server.ok()) << server.status();
  if (CudaUsable()) {
    EXPECT_EQ((*server)->backend().name(), "cuda");
    EXPECT_THAT(log, HasSubstr("backend cuda (--backend=auto)"));
  } else {
    EXPECT_EQ((*server)->backend().name(), "cpu");
    // One calm line: the reason, not the CUDA error behind it.
    EXPECT_THAT(log,
                HasSubstr(CudaBackendBuilt()
                              ? "backend cpu (auto: no CUDA device; "
                              : "backend cpu (auto: built without CUDA; "));
    EXPECT_THAT(log, Not(HasSubstr("cudaGetDeviceCount")));
  }
}

TEST(BackendSelectionTest, CudaFailsToStartWithoutAUsableGpu) {
  if (CudaUsable()) GTEST_SKIP() << "a CUDA GPU is present";
  ServerConfig config = TestConfig();
  config.backend = BackendChoice::kCuda;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(config);
  EXPECT_THAT(
      server.status(),
      StatusIs(CudaBackendBuilt() ? absl::StatusCode::kFailedPrecondition
                                  : absl::StatusCode::kUnimplemented,
               HasSubstr("--backend=cuda: cannot use the CUDA backend")));
}

TEST(BackendSelectionTest, CpuIsReportedInServerInfoAndMetrics) {
  ServerConfig config = TestConfig();
  config.backend = BackendChoice::kCpu;
  std::unique_ptr<TestServer> server = TestServer::Start(config);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->server().backend().name(), "cpu");
  v1::GetServerInfoResponse info;
  grpc::Status status = server->stub().GetServerInfo(
      ContextWithTimeout().get(), v1::GetServerInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.backend(), "cpu");
  EXPECT_EQ(info.compute_threads(), config.threads);
  EXPECT_THAT(server->server().metrics().Render(),
              HasSubstr("tensorops_backend_info{backend=\"cpu\"} 1"));
}

TEST(BackendSelectionTest, BackendFlagIsParsed) {
  absl::SetFlag(&FLAGS_backend, "cuda");
  absl::StatusOr<ServerConfig> config = ServerConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->backend, BackendChoice::kCuda);
  absl::SetFlag(&FLAGS_backend, "cpu");
  config = ServerConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->backend, BackendChoice::kCpu);

  absl::SetFlag(&FLAGS_backend, "gpu");
  EXPECT_THAT(
      ServerConfigFromFlags().status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("--backend is 'gpu'; expected cpu, cuda or auto")));
  absl::SetFlag(&FLAGS_backend, "auto");
  config = ServerConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->backend, BackendChoice::kAuto);
}

}  // namespace
}  // namespace tensorops::server
