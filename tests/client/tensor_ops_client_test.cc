// TensorOpsClient against the real service, started in-process on a
// loopback port.
#include "client/tensor_ops_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/tensor_codec.h"
#include "server/server.h"
#include "server/server_config.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops::client {
namespace {

using ::tensorops::testing::IsOk;
using ::tensorops::testing::MakeTensor;
using ::tensorops::testing::StatusIs;
using ::tensorops::testing::Values;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class TensorOpsClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server::ServerConfig config;
    config.address = "127.0.0.1:0";
    config.metrics_address = "";
    config.threads = 2;
    absl::StatusOr<std::unique_ptr<server::Server>> started =
        server::Server::Start(config);
    ASSERT_THAT(started.status(), IsOk());
    server_ = started->release();
  }
  static void TearDownTestSuite() {
    server_->Shutdown(absl::ZeroDuration());
    delete server_;
    server_ = nullptr;
  }

  static std::string Address() {
    return absl::StrCat("127.0.0.1:", server_->port());
  }

  int64_t SessionCount() {
    absl::StatusOr<tensorops::v1::GetServerInfoResponse> info =
        client_->GetServerInfo();
    EXPECT_THAT(info.status(), IsOk());
    return info.ok() ? info->session_count() : -1;
  }

  static server::Server* server_;
  std::unique_ptr<TensorOpsClient> client_ =
      TensorOpsClient::Connect(Address());
};

server::Server* TensorOpsClientTest::server_ = nullptr;

// The example input, [3., 1., 4., 2.].
Tensor SeedInput() {
  return MakeTensor<float>(DType::kFloat32, {4}, {3, 1, 4, 2});
}

TEST_F(TensorOpsClientTest, ZerosAndOnesLikeKeepShapeAndTakeDType) {
  const Tensor input =
      MakeTensor<int64_t>(DType::kInt64, {2, 3}, {1, 2, 3, 4, 5, 6});
  absl::StatusOr<Tensor> zeros = client_->ZerosLike(input);
  ASSERT_THAT(zeros.status(), IsOk());
  EXPECT_EQ(zeros->dtype(), DType::kInt64);
  EXPECT_EQ(zeros->shape(), (Shape{2, 3}));
  EXPECT_THAT(Values<int64_t>(*zeros), ElementsAre(0, 0, 0, 0, 0, 0));

  absl::StatusOr<Tensor> ones = client_->OnesLike(input, DType::kFloat64);
  ASSERT_THAT(ones.status(), IsOk());
  EXPECT_EQ(ones->dtype(), DType::kFloat64);
  EXPECT_THAT(Values<double>(*ones), ElementsAre(1, 1, 1, 1, 1, 1));
}

TEST_F(TensorOpsClientTest, TopKReturnsValuesAndIndices) {
  absl::StatusOr<TopKOutput> top = client_->TopK(SeedInput(), {.k = 2});
  ASSERT_THAT(top.status(), IsOk());
  EXPECT_THAT(Values<float>(top->values), ElementsAre(4, 3));
  EXPECT_THAT(Values<int64_t>(top->indices), ElementsAre(2, 0));
  EXPECT_THAT(top->session_id, IsEmpty());

  absl::StatusOr<TopKOutput> smallest = client_->TopK(
      SeedInput(), {.k = 3, .dim = 0, .largest = false, .sorted = false});
  ASSERT_THAT(smallest.status(), IsOk());
  // Unsorted: the selected set in increasing index order.
  EXPECT_THAT(Values<int64_t>(smallest->indices), ElementsAre(0, 1, 3));
  EXPECT_THAT(Values<float>(smallest->values), ElementsAre(3, 1, 2));
}

TEST_F(TensorOpsClientTest, ResultsOutliveTheClient) {
  Tensor values;
  {
    auto client = TensorOpsClient::Connect(Address());
    absl::StatusOr<TopKOutput> top = client->TopK(SeedInput(), {.k = 4});
    ASSERT_THAT(top.status(), IsOk());
    values = top->values;
  }
  EXPECT_THAT(Values<float>(values), ElementsAre(4, 3, 2, 1));
}

TEST_F(TensorOpsClientTest, SessionBackwardConsumesTheSession) {
  const int64_t sessions_before = SessionCount();
  absl::StatusOr<TopKOutput> top =
      client_->TopK(SeedInput(), {.k = 2, .save_for_backward = true});
  ASSERT_THAT(top.status(), IsOk());
  ASSERT_THAT(top->session_id, Not(IsEmpty()));
  EXPECT_EQ(SessionCount(), sessions_before + 1);

  const Tensor grad = MakeTensor<float>(DType::kFloat32, {2}, {0.1f, 0.2f});
  absl::StatusOr<Tensor> grad_input = client_->Backward(top->session_id, grad);
  ASSERT_THAT(grad_input.status(), IsOk());
  EXPECT_THAT(Values<float>(*grad_input), ElementsAre(0.2f, 0, 0.1f, 0));
  EXPECT_EQ(SessionCount(), sessions_before);

  EXPECT_THAT(client_->Backward(top->session_id, grad).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(TensorOpsClientTest,
       RetainedSessionServesSeveralBackwardsUntilReleased) {
  absl::StatusOr<TopKOutput> top =
      client_->TopK(SeedInput(), {.k = 1, .save_for_backward = true});
  ASSERT_THAT(top.status(), IsOk());
  const Tensor grad = MakeTensor<double>(DType::kFloat64, {1}, {2.5});
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<Tensor> grad_input =
        client_->Backward(top->session_id, grad, /*retain_session=*/true);
    ASSERT_THAT(grad_input.status(), IsOk());
    EXPECT_EQ(grad_input->dtype(), DType::kFloat64);
    EXPECT_THAT(Values<double>(*grad_input), ElementsAre(0, 0, 2.5, 0));
  }
  EXPECT_THAT(client_->ReleaseSession(top->session_id), IsOk());
  EXPECT_THAT(client_->ReleaseSession(top->session_id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client_->Backward("", grad).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(TensorOpsClientTest, StatelessBackwardScattersTheGradient) {
  const Tensor grad = MakeTensor<float>(DType::kFloat32, {2, 1}, {5.0f, 7.0f});
  const Tensor indices = MakeTensor<int64_t>(DType::kInt64, {2, 1}, {2, 0});
  const Shape input_shape = {2, 3};
  absl::StatusOr<Tensor> grad_input =
      client_->StatelessBackward(grad, indices, input_shape, /*dim=*/1);
  ASSERT_THAT(grad_input.status(), IsOk());
  EXPECT_EQ(grad_input->shape(), input_shape);
  EXPECT_THAT(Values<float>(*grad_input), ElementsAre(0, 0, 5, 7, 0, 0));
}

// The status is the server's own, code and message: compare with what the
// generated stub receives for the same request.
TEST_F(TensorOpsClientTest, ErrorsCarryTheServersCodeAndMessage) {
  absl::StatusOr<TopKOutput> top = client_->TopK(SeedInput(), {.k = 5});
  ASSERT_THAT(top.status(), StatusIs(absl::StatusCode::kInvalidArgument));

  tensorops::v1::TopKRequest request;
  wire::TensorToProto(SeedInput(), request.mutable_input());
  request.set_k(5);
  tensorops::v1::TopKResponse response;
  grpc::ClientContext context;
  const grpc::Status raw = tensorops::v1::TensorOps::NewStub(client_->channel())
                               ->TopK(&context, request, &response);
  EXPECT_EQ(static_cast<int>(raw.error_code()),
            static_cast<int>(top.status().code()));
  EXPECT_EQ(raw.error_message(), std::string(top.status().message()));
  EXPECT_THAT(raw.error_message(), Not(IsEmpty()));

  EXPECT_THAT(client_
                  ->Backward(std::string(32, '0'),  // well-formed, unknown
                             MakeTensor<float>(DType::kFloat32, {1}, {1}))
                  .status(),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(TensorOpsClientTest, DeadlinesApplyPerCallAndByDefault) {
  // Deadlines that have already passed. (gRPC rounds deadlines up to whole
  // milliseconds: one a nanosecond ahead can leave a loopback call the time
  // to succeed.)
  constexpr absl::Duration kPassed = -absl::Seconds(1);
  EXPECT_THAT(
      client_->TopK(SeedInput(), {.k = 1}, {.timeout = kPassed}).status(),
      StatusIs(absl::StatusCode::kDeadlineExceeded));
  TensorOpsClient impatient(CreateChannel(Address()),
                            {.default_timeout = kPassed});
  EXPECT_THAT(impatient.ZerosLike(SeedInput()).status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(
      impatient
          .ZerosLike(SeedInput(), std::nullopt, {.timeout = absl::Seconds(10)})
          .status(),
      IsOk());
}

TEST_F(TensorOpsClientTest, UnreachableServerIsUnavailable) {
  // A port that was free a moment ago: nothing listens there.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
            0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  auto client = TensorOpsClient::Connect(
      absl::StrCat("127.0.0.1:", ntohs(address.sin_port)));
  EXPECT_THAT(client->Health("", {.timeout = absl::Seconds(5)}).status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(TensorOpsClientTest, HealthReportsServing) {
  for (absl::string_view service : {"", server::kTensorOpsServiceName}) {
    absl::StatusOr<ServingStatus> status = client_->Health(service);
    ASSERT_THAT(status.status(), IsOk());
    EXPECT_EQ(*status, ServingStatus::kServing) << service;
  }
  EXPECT_THAT(client_->Health("no.such.Service").status(),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(TensorOpsClientTest, ServerInfoDescribesTheServer) {
  absl::StatusOr<tensorops::v1::GetServerInfoResponse> info =
      client_->GetServerInfo();
  ASSERT_THAT(info.status(), IsOk());
  EXPECT_THAT(info->version(), Not(IsEmpty()));
  EXPECT_EQ(info->compute_threads(), 2);
}

TEST_F(TensorOpsClientTest, EmptyAndScalarTensorsTravel) {
  absl::StatusOr<TopKOutput> empty =
      client_->TopK(MakeTensor<float>(DType::kFloat32, {3, 0}, {}), {.k = 0});
  ASSERT_THAT(empty.status(), IsOk());
  EXPECT_EQ(empty->values.shape(), (Shape{3, 0}));
  absl::StatusOr<TopKOutput> scalar =
      client_->TopK(MakeTensor<int32_t>(DType::kInt32, {}, {-9}), {.k = 1});
  ASSERT_THAT(scalar.status(), IsOk());
  EXPECT_THAT(Values<int32_t>(scalar->values), ElementsAre(-9));
  EXPECT_THAT(Values<int64_t>(scalar->indices), ElementsAre(0));
}

// A server with mutual TLS and bearer tokens (certificates made by
// tests/support/make_test_certs.sh), and clients configured against it.
class SecureClientTest : public ::testing::Test {
 protected:
  static constexpr char kToken[] = "client-test-token-0123456789";

  static void SetUpTestSuite() {
    dir_ = new std::string(
        absl::StrCat(::testing::TempDir(), "tensorops-client-tls-", getpid()));
    ASSERT_EQ(std::system(
                  absl::StrCat(TENSOROPS_MAKE_TEST_CERTS, " ", *dir_).c_str()),
              0);
    std::ofstream(*dir_ + "/tokens") << kToken << "\n";
    server::ServerConfig config;
    config.address = "127.0.0.1:0";
    config.metrics_address = "";
    config.threads = 2;
    config.backend = server::BackendChoice::kCpu;
    config.tls_cert_file = *dir_ + "/server.pem";
    config.tls_key_file = *dir_ + "/server.key";
    config.tls_client_ca_file = *dir_ + "/ca.pem";
    config.auth_tokens_file = *dir_ + "/tokens";
    absl::StatusOr<std::unique_ptr<server::Server>> started =
        server::Server::Start(config);
    ASSERT_THAT(started.status(), IsOk());
    server_ = started->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    std::system(absl::StrCat("rm -rf ", *dir_).c_str());
    delete dir_;
  }

  static std::unique_ptr<TensorOpsClient> Client(
      std::optional<std::string> token, bool with_certificate = true) {
    absl::StatusOr<TlsOptions> tls = TlsOptionsFromFiles(
        *dir_ + "/ca.pem", with_certificate ? *dir_ + "/alice.pem" : "",
        with_certificate ? *dir_ + "/alice.key" : "",
        /*server_name=*/"localhost");
    EXPECT_THAT(tls.status(), IsOk());
    ClientOptions options;
    options.tls = *tls;
    options.auth_token = std::move(token);
    options.default_timeout = absl::Seconds(10);
    return TensorOpsClient::Connect(absl::StrCat("127.0.0.1:", server_->port()),
                                    options);
  }

  static std::string* dir_;
  static server::Server* server_;
};

std::string* SecureClientTest::dir_ = nullptr;
server::Server* SecureClientTest::server_ = nullptr;

TEST_F(SecureClientTest, CertificateAndTokenReachTheServer) {
  std::unique_ptr<TensorOpsClient> client = Client(kToken);
  absl::StatusOr<TopKOutput> top = client->TopK(
      MakeTensor<float>(DType::kFloat32, {4}, {3, 1, 4, 2}), {.k = 2});
  ASSERT_THAT(top.status(), IsOk());
  EXPECT_THAT(Values<int64_t>(top->indices), ElementsAre(2, 0));
}

TEST_F(SecureClientTest, WithoutATokenCallsAreUnauthenticated) {
  std::unique_ptr<TensorOpsClient> client = Client(std::nullopt);
  EXPECT_THAT(client->GetServerInfo().status(),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("authorization: Bearer")));
  // Health stays open for probes.
  EXPECT_THAT(client->Health(), IsOk());
}

TEST_F(SecureClientTest, WithoutACertificateNothingConnects) {
  std::unique_ptr<TensorOpsClient> client =
      Client(kToken, /*with_certificate=*/false);
  EXPECT_THAT(client->GetServerInfo().status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(TlsOptionsTest, FilesMustBeReadableAndComeInPairs) {
  EXPECT_THAT(TlsOptionsFromFiles("/nonexistent/ca.pem", "", ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("/nonexistent/ca.pem")));
  EXPECT_THAT(
      TlsOptionsFromFiles("", "/some/cert.pem", ""),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("private key")));
  absl::StatusOr<TlsOptions> system_roots = TlsOptionsFromFiles("", "", "");
  ASSERT_THAT(system_roots.status(), IsOk());
  EXPECT_TRUE(system_roots->root_certs_pem.empty());
}

}  // namespace
}  // namespace tensorops::client
