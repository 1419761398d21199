// Security controls over RPC: bearer tokens, TLS and mutual TLS, session
// ownership, the request limits, and cancellation of abandoned work.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/caller_identity.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAliceToken[] = "alice-token-0123456789abcdef";
constexpr char kBobToken[] = "bob-token-0123456789abcdef";

// A fresh directory under the test's temporary directory.
std::filesystem::path MakeTempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::filesystem::path dir =
      std::filesystem::path(base != nullptr ? base : "/tmp") /
      absl::StrCat("tensorops-", name, "-", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// Calls with an optional bearer token.
class Caller {
 public:
  Caller(std::shared_ptr<grpc::Channel> channel, std::string token = "")
      : stub_(v1::TensorOps::NewStub(std::move(channel))),
        token_(std::move(token)) {}

  std::unique_ptr<grpc::ClientContext> Context(
      absl::Duration timeout = absl::Seconds(10)) const {
    auto context = ContextWithTimeout(timeout);
    if (!token_.empty()) {
      context->AddMetadata(std::string(kAuthorizationMetadataKey),
                           absl::StrCat("Bearer ", token_));
    }
    return context;
  }

  grpc::Status TopK(const std::vector<float>& values, int64_t k, bool save,
                    v1::TopKResponse* response) const {
    v1::TopKRequest request;
    *request.mutable_input() = WireTensor(
        v1::DTYPE_FLOAT32, {static_cast<int64_t>(values.size())}, values);
    request.set_k(k);
    request.set_save_for_backward(save);
    return stub_->TopK(Context().get(), request, response);
  }

  grpc::Status Backward(const std::string& session,
                        const std::vector<float>& grad,
                        std::vector<float>* grad_input = nullptr) const {
    v1::BackwardRequest request;
    request.set_session_id(session);
    *request.mutable_grad_values() = WireTensor(
        v1::DTYPE_FLOAT32, {static_cast<int64_t>(grad.size())}, grad);
    v1::BackwardResponse response;
    grpc::Status status = stub_->Backward(Context().get(), request, &response);
    if (status.ok() && grad_input != nullptr) {
      *grad_input = WireValues<float>(response.grad_input());
    }
    return status;
  }

  grpc::Status Release(const std::string& session) const {
    v1::ReleaseSessionRequest request;
    request.set_session_id(session);
    v1::ReleaseSessionResponse response;
    return stub_->ReleaseSession(Context().get(), request, &response);
  }

  grpc::Status ZerosLike(const std::vector<int64_t>& shape) const {
    v1::ZerosLikeRequest request;
    request.mutable_input()->set_dtype(v1::DTYPE_FLOAT32);
    for (int64_t dim : shape) request.mutable_input()->add_shape(dim);
    v1::ZerosLikeResponse response;
    return stub_->ZerosLike(Context().get(), request, &response);
  }

  grpc::Status Info() const {
    v1::GetServerInfoRequest request;
    v1::GetServerInfoResponse response;
    return stub_->GetServerInfo(Context().get(), request, &response);
  }

  v1::TensorOps::Stub& stub() { return *stub_; }

 private:
  std::unique_ptr<v1::TensorOps::Stub> stub_;
  std::string token_;
};

// --- bearer tokens -----------------------------------------------------

class TokenAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("tokens");
    tokens_file_ = dir_ / "tokens";
    WriteFile(tokens_file_, absl::StrCat("# callers\n", kAliceToken, "\n\n",
                                         kBobToken, "\n"));
    ServerConfig config = TestConfig();
    config.auth_tokens_file = tokens_file_.string();
    server_ = TestServer::Start(config);
    ASSERT_NE(server_, nullptr);
  }

  std::filesystem::path dir_;
  std::filesystem::path tokens_file_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(TokenAuthTest, EveryMethodRefusesCallsWithoutAnAcceptedToken) {
  for (const std::string& token :
       {std::string(), std::string("not-a-listed-token-xxxxxxxx")}) {
    Caller caller(server_->channel(), token);
    v1::TopKResponse top;
    const std::vector<grpc::Status> statuses = {
        caller.TopK({3, 1, 2}, 1, false, &top),
        caller.Backward(std::string(32, 'a'), {1}),
        caller.Release(std::string(32, 'a')), caller.ZerosLike({2}),
        caller.Info()};
    for (const grpc::Status& status : statuses) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << "token '" << token << "': " << status.error_message();
      EXPECT_THAT(status.error_message(),
                  HasSubstr("authorization: Bearer <token>"));
      EXPECT_THAT(status.error_message(), HasSubstr("--auth_tokens_file"));
    }
  }
}

TEST_F(TokenAuthTest, OtherSchemesAndRepeatedHeadersAreRefused) {
  v1::TensorOps::Stub& stub = server_->stub();
  for (const std::vector<std::string>& values :
       {std::vector<std::string>{absl::StrCat("Basic ", kAliceToken)},
        std::vector<std::string>{kAliceToken},
        std::vector<std::string>{absl::StrCat("Bearer ", kAliceToken),
                                 absl::StrCat("Bearer ", kBobToken)}}) {
    auto context = ContextWithTimeout();
    for (const std::string& value : values) {
      context->AddMetadata("authorization", value);
    }
    v1::GetServerInfoResponse response;
    grpc::Status status = stub.GetServerInfo(
        context.get(), v1::GetServerInfoRequest(), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << values.front();
    EXPECT_THAT(status.error_message(), Not(HasSubstr(kAliceToken)));
  }
}

TEST_F(TokenAuthTest, AcceptedTokensAreServedAndHealthStaysOpen) {
  Caller alice(server_->channel(), kAliceToken);
  v1::TopKResponse top;
  ASSERT_TRUE(alice.TopK({3, 1, 4, 2}, 2, false, &top).ok());
  EXPECT_EQ(WireValues<int64_t>(top.indices()), std::vector<int64_t>({2, 0}));
  // The scheme is case-insensitive, as in HTTP.
  auto context = ContextWithTimeout();
  context->AddMetadata("authorization", absl::StrCat("bearer ", kBobToken));
  v1::GetServerInfoResponse info;
  EXPECT_TRUE(
      server_->stub()
          .GetServerInfo(context.get(), v1::GetServerInfoRequest(), &info)
          .ok());

  RawResponse health =
      RawUnary(server_->channel(), "/grpc.health.v1.Health/Check", "");
  EXPECT_TRUE(health.status.ok()) << health.status.error_message();
}

TEST_F(TokenAuthTest, TheTokensFileIsReloadedWhenItChanges) {
  const std::string carol = "carol-token-0123456789abcdef";
  Caller as_carol(server_->channel(), carol);
  Caller as_alice(server_->channel(), kAliceToken);
  ASSERT_EQ(as_carol.Info().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  WriteFile(tokens_file_, absl::StrCat(kAliceToken, "\n", carol, "\n"));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!as_carol.Info().ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(as_carol.Info().ok());
  EXPECT_TRUE(as_alice.Info().ok());
  EXPECT_EQ(Caller(server_->channel(), kBobToken).Info().error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // A broken edit keeps the tokens in force rather than locking out or
  // letting in everyone.
  WriteFile(tokens_file_, "short\n");
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_TRUE(as_carol.Info().ok());
  EXPECT_EQ(Caller(server_->channel(), "").Info().error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(TokenAuthTest, SessionsBelongToTheTokenThatSavedThem) {
  Caller alice(server_->channel(), kAliceToken);
  Caller bob(server_->channel(), kBobToken);
  v1::TopKResponse saved;
  ASSERT_TRUE(alice.TopK({3, 1, 4, 2}, 2, true, &saved).ok());

  // Bob holds the id but not the session: it reads as unknown, exactly like
  // an id never issued, and he cannot consume or release it.
  grpc::Status stolen = bob.Backward(saved.session_id(), {1, 1});
  EXPECT_EQ(stolen.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(stolen.error_message(), HasSubstr("unknown session_id"));
  grpc::Status never = bob.Backward(std::string(32, 'e'), {1, 1});
  EXPECT_EQ(stolen.error_message(),
            absl::StrReplaceAll(never.error_message(),
                                {{std::string(32, 'e'), saved.session_id()}}));
  EXPECT_EQ(bob.Release(saved.session_id()).error_code(),
            grpc::StatusCode::NOT_FOUND);

  std::vector<float> grad_input;
  ASSERT_TRUE(
      alice.Backward(saved.session_id(), {.5f, .25f}, &grad_input).ok());
  EXPECT_EQ(grad_input, std::vector<float>({.25f, 0, .5f, 0}));
  // Once consumed, only its owner learns that.
  EXPECT_EQ(alice.Backward(saved.session_id(), {1, 1}).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(bob.Backward(saved.session_id(), {1, 1}).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(TokenAuthStartTest, AnEmptyOrMissingTokensFileStopsTheStart) {
  const std::filesystem::path dir = MakeTempDir("tokens-start");
  WriteFile(dir / "empty", "# nobody yet\n");
  for (const std::filesystem::path& path : {dir / "empty", dir / "missing"}) {
    ServerConfig config = TestConfig();
    config.auth_tokens_file = path.string();
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(config);
    ASSERT_FALSE(server.ok()) << path;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(server.status().message(), HasSubstr("--auth_tokens_file"));
  }
}

// --- TLS and mutual TLS ------------------------------------------------

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new std::filesystem::path(MakeTempDir("certs"));
    const std::string command =
        absl::StrCat(TENSOROPS_MAKE_TEST_CERTS, " ", certs_->string());
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*certs_);
    delete certs_;
  }

  static std::string Pem(const std::string& name) {
    return ReadFile(*certs_ / name);
  }

  static ServerConfig TlsConfig(bool mutual) {
    ServerConfig config = TestConfig();
    config.tls_cert_file = (*certs_ / "server.pem").string();
    config.tls_key_file = (*certs_ / "server.key").string();
    if (mutual) config.tls_client_ca_file = (*certs_ / "ca.pem").string();
    return config;
  }

  // A TLS channel trusting `root` ("ca.pem" or another), presenting the
  // client certificate `client` ("alice", "bob", "rogue" or none).
  static std::shared_ptr<grpc::Channel> TlsChannel(
      TestServer& server, const std::string& root = "ca.pem",
      const std::string& client = "") {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = Pem(root);
    if (!client.empty()) {
      options.pem_cert_chain = Pem(client + ".pem");
      options.pem_private_key = Pem(client + ".key");
    }
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(
        absl::StrCat("localhost:", server.server().port()),
        grpc::SslCredentials(options), arguments);
  }

  static std::filesystem::path* certs_;
};

std::filesystem::path* TlsTest::certs_ = nullptr;

TEST_F(TlsTest, ATlsServerServesTlsClientsOnly) {
  auto server = TestServer::Start(TlsConfig(/*mutual=*/false));
  ASSERT_NE(server, nullptr);
  v1::TopKResponse top;
  grpc::Status ok = Caller(TlsChannel(*server)).TopK({1, 3, 2}, 1, false, &top);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(WireValues<int64_t>(top.indices()), std::vector<int64_t>({1}));

  EXPECT_EQ(Caller(server->channel()).Info().error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "a plaintext client must not get through";
  EXPECT_EQ(Caller(TlsChannel(*server, "rogue-ca.pem")).Info().error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "a client that does not trust the server's CA must not connect";
}

TEST_F(TlsTest, MutualTlsRequiresACertificateFromTheClientCa) {
  auto server = TestServer::Start(TlsConfig(/*mutual=*/true));
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(Caller(TlsChannel(*server, "ca.pem", "alice")).Info().ok());
  EXPECT_EQ(Caller(TlsChannel(*server)).Info().error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "no client certificate";
  EXPECT_EQ(Caller(TlsChannel(*server, "ca.pem", "rogue")).Info().error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "a certificate named alice from another CA";
}

TEST_F(TlsTest, SessionsBelongToTheClientCertificate) {
  auto server = TestServer::Start(TlsConfig(/*mutual=*/true));
  ASSERT_NE(server, nullptr);
  Caller alice(TlsChannel(*server, "ca.pem", "alice"));
  Caller bob(TlsChannel(*server, "ca.pem", "bob"));
  Caller alice_again(TlsChannel(*server, "ca.pem", "alice"));
  v1::TopKResponse saved;
  ASSERT_TRUE(alice.TopK({3, 1, 4, 2}, 2, true, &saved).ok());
  EXPECT_EQ(bob.Backward(saved.session_id(), {1, 1}).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // The same identity on another connection owns it.
  std::vector<float> grad_input;
  ASSERT_TRUE(
      alice_again.Backward(saved.session_id(), {.5f, .25f}, &grad_input).ok());
  EXPECT_EQ(grad_input, std::vector<float>({.25f, 0, .5f, 0}));
}

TEST_F(TlsTest, BadTlsFilesStopTheStartNamingTheFlag) {
  struct Case {
    std::string cert, key, client_ca, flag;
  };
  const std::string dir = certs_->string() + "/";
  const std::vector<Case> cases = {
      {dir + "server.pem", dir + "alice.key", "", "--tls_key"},
      {dir + "missing.pem", dir + "server.key", "", "--tls_cert"},
      {dir + "server.key", dir + "server.key", "", "--tls_cert"},
      {dir + "server.pem", dir + "server.pem", "", "--tls_key"},
      {dir + "server.pem", dir + "server.key", dir + "ca.key",
       "--tls_client_ca"},
      {dir + "server.pem", "", "", "--tls_key"},
      {"", "", dir + "ca.pem", "--tls_client_ca"},
  };
  for (const Case& c : cases) {
    ServerConfig config = TestConfig();
    config.tls_cert_file = c.cert;
    config.tls_key_file = c.key;
    config.tls_client_ca_file = c.client_ca;
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(config);
    ASSERT_FALSE(server.ok()) << c.cert << " " << c.key << " " << c.client_ca;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(server.status().message(), HasSubstr(c.flag));
  }
}

// --- limits ------------------------------------------------------------

TEST(LimitsTest, TensorsOverTheElementLimitAreRefusedNamingTheFlag) {
  ServerConfig config = TestConfig();
  config.max_tensor_elements = 100;
  auto server = TestServer::Start(config);
  ASSERT_NE(server, nullptr);
  Caller caller(server->channel());
  v1::TopKResponse top;
  EXPECT_TRUE(caller.TopK(std::vector<float>(100, 1), 1, false, &top).ok());
  EXPECT_TRUE(caller.ZerosLike({10, 10}).ok());

  grpc::Status topk = caller.TopK(std::vector<float>(101, 1), 1, false, &top);
  EXPECT_EQ(topk.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(topk.error_message(), HasSubstr("--max_tensor_elements"));
  EXPECT_THAT(topk.error_message(), HasSubstr("101 elements"));
  grpc::Status zeros = caller.ZerosLike({11, 10});
  EXPECT_EQ(zeros.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(zeros.error_message(), HasSubstr("--max_tensor_elements"));

  // Stateless Backward into a result larger than the limit.
  v1::BackwardRequest backward;
  *backward.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {1}, {1});
  *backward.mutable_indices() = WireTensor<int64_t>(v1::DTYPE_INT64, {1}, {0});
  backward.add_input_shape(1000);
  v1::BackwardResponse response;
  grpc::Status scatter =
      server->stub().Backward(caller.Context().get(), backward, &response);
  EXPECT_EQ(scatter.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(scatter.error_message(), HasSubstr("--max_tensor_elements"));
}

TEST(LimitsTest, CallsOverTheInflightLimitAreRefusedUntilOthersFinish) {
  GatedExecutor executor;
  ServerConfig config = TestConfig();
  config.max_inflight_requests = 2;
  ServerOverrides overrides;
  overrides.executor = &executor;
  overrides.inline_work_bytes = -1;  // every call waits in the executor
  auto server = TestServer::Start(config, overrides);
  ASSERT_NE(server, nullptr);
  Caller caller(server->channel());

  std::vector<std::thread> held;
  std::vector<grpc::Status> held_statuses(2);
  for (int i = 0; i < 2; ++i) {
    held.emplace_back([&, i] { held_statuses[i] = caller.ZerosLike({3}); });
  }
  ASSERT_TRUE(executor.WaitForSubmitted(2));
  grpc::Status refused = caller.ZerosLike({3});
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("--max_inflight_requests"));
  // Health checks are not TensorOps calls and are not limited.
  EXPECT_TRUE(RawUnary(server->channel(), "/grpc.health.v1.Health/Check", "")
                  .status.ok());

  executor.Open();
  for (std::thread& thread : held) thread.join();
  for (const grpc::Status& status : held_statuses) {
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  // The finished calls no longer count.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  grpc::Status after = caller.ZerosLike({3});
  while (!after.ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
    after = caller.ZerosLike({3});
  }
  EXPECT_TRUE(after.ok()) << after.error_message();
}

TEST(LimitsTest, EachCallerHoldsAtMostTheSessionLimit) {
  const std::filesystem::path dir = MakeTempDir("session-limit");
  WriteFile(dir / "tokens", absl::StrCat(kAliceToken, "\n", kBobToken, "\n"));
  ServerConfig config = TestConfig();
  config.max_sessions_per_caller = 3;
  config.auth_tokens_file = (dir / "tokens").string();
  auto server = TestServer::Start(config);
  ASSERT_NE(server, nullptr);
  Caller alice(server->channel(), kAliceToken);
  Caller bob(server->channel(), kBobToken);

  std::vector<std::string> sessions;
  for (int i = 0; i < 3; ++i) {
    v1::TopKResponse saved;
    ASSERT_TRUE(alice.TopK({3, 1, 4, 2}, 2, true, &saved).ok());
    sessions.push_back(saved.session_id());
  }
  v1::TopKResponse over;
  grpc::Status refused = alice.TopK({3, 1, 4, 2}, 2, true, &over);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("--max_sessions_per_caller"));
  // Without a session the same call is fine, and other callers are not
  // affected by alice's sessions.
  EXPECT_TRUE(alice.TopK({3, 1, 4, 2}, 2, false, &over).ok());
  EXPECT_TRUE(bob.TopK({3, 1, 4, 2}, 2, true, &over).ok());
  for (auto [caller, expected] : {std::pair{&alice, 3}, std::pair{&bob, 1}}) {
    v1::GetServerInfoResponse info;
    ASSERT_TRUE(caller->stub()
                    .GetServerInfo(caller->Context().get(),
                                   v1::GetServerInfoRequest(), &info)
                    .ok());
    EXPECT_EQ(info.caller_session_count(), expected);
    EXPECT_EQ(info.session_count(), 4);
    EXPECT_EQ(info.max_sessions_per_caller(), 3);
  }

  // Consuming or releasing frees a slot.
  ASSERT_TRUE(alice.Release(sessions[0]).ok());
  EXPECT_TRUE(alice.TopK({3, 1, 4, 2}, 2, true, &over).ok());
  ASSERT_TRUE(alice.Backward(sessions[1], {1, 1}).ok());
  EXPECT_TRUE(alice.TopK({3, 1, 4, 2}, 2, true, &over).ok());
  EXPECT_EQ(alice.TopK({3, 1, 4, 2}, 2, true, &over).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// --- cancellation --------------------------------------------------------

// The value of a counter series in the server's metrics text.
double ServerMetric(Server& server, const std::string& series) {
  return MetricValue(server.metrics().Render(), series).value_or(-1);
}

constexpr char kAbandonedQueued[] =
    "tensorops_abandoned_computations_total{stage=\"queued\"}";
constexpr char kAbandonedRunning[] =
    "tensorops_abandoned_computations_total{stage=\"running\"}";

// Polls until `series` reaches `value`; false after 10 s.
bool WaitForMetric(Server& server, const std::string& series, double value) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (ServerMetric(server, series) < value) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

TEST(CancellationRpcTest, ACallWhoseDeadlinePassedInTheQueueIsNotComputed) {
  GatedExecutor executor;
  ServerOverrides overrides;
  overrides.executor = &executor;
  overrides.inline_work_bytes = -1;
  auto server = TestServer::Start(TestConfig(), overrides);
  ASSERT_NE(server, nullptr);

  v1::TopKRequest request;
  *request.mutable_input() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {3}, {1, 3, 2});
  request.set_k(1);
  request.set_save_for_backward(true);
  v1::TopKResponse response;
  grpc::Status status = server->stub().TopK(
      ContextWithTimeout(absl::Milliseconds(200)).get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // Time for the client's cancellation to reach the server, which learns of
  // the deadline that way.
  absl::SleepFor(absl::Milliseconds(300));
  executor.Open();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (ServerMetric(server->server(), kAbandonedQueued) +
                 ServerMetric(server->server(), kAbandonedRunning) <
             1 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  // Skipped in the queue (or, if the cancellation arrived only as it
  // started, stopped at once); either way no TopK result and no session.
  EXPECT_EQ(ServerMetric(server->server(), kAbandonedQueued) +
                ServerMetric(server->server(), kAbandonedRunning),
            1);
  EXPECT_EQ(server->server().sessions().stats().entries, 0);
}

// Runs tasks on a pool and says when the first one starts.
class StartSignallingExecutor final : public Executor {
 public:
  void Submit(Task task) override {
    pool_.Submit([this, task = std::move(task)]() mutable {
      if (!started_.HasBeenNotified()) started_.Notify();
      std::move(task)();
    });
  }
  bool WaitForStart() {
    return started_.WaitForNotificationWithTimeout(absl::Seconds(30));
  }

 private:
  absl::Notification started_;
  ThreadPoolExecutor pool_{1};
};

// A full sort of a 32 MB tensor on one compute thread takes about a second;
// the client cancels it once it has started, and the server stops it
// instead of finishing.
TEST(CancellationRpcTest, CancellingDuringTheComputationStopsIt) {
  StartSignallingExecutor executor;
  ServerConfig config = TestConfig();
  config.threads = 1;
  ServerOverrides overrides;
  overrides.executor = &executor;
  auto server = TestServer::Start(config, overrides);
  ASSERT_NE(server, nullptr);
  constexpr int64_t kRows = 2048;
  constexpr int64_t kCols = 4096;
  std::vector<float> data(kRows * kCols);
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<float>((i * 2654435761u) % 1000003);
  }
  v1::TopKRequest request;
  *request.mutable_input() =
      WireTensor(v1::DTYPE_FLOAT32, {kRows, kCols}, data);
  request.set_k(kCols);
  v1::TopKResponse response;

  std::unique_ptr<grpc::ClientContext> context =
      ContextWithTimeout(absl::Seconds(60));
  absl::Notification done;
  grpc::Status status;
  server->stub().async()->TopK(context.get(), &request, &response,
                               [&](grpc::Status s) {
                                 status = std::move(s);
                                 done.Notify();
                               });
  ASSERT_TRUE(executor.WaitForStart());
  context->TryCancel();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitForMetric(server->server(), kAbandonedRunning, 1))
      << "queued abandons: "
      << ServerMetric(server->server(), kAbandonedQueued);
  // The server goes on serving.
  Caller caller(server->channel());
  v1::TopKResponse top;
  ASSERT_TRUE(caller.TopK({1, 3, 2}, 1, false, &top).ok());
  EXPECT_EQ(WireValues<int64_t>(top.indices()), std::vector<int64_t>({1}));
}

}  // namespace
}  // namespace tensorops::server::testing
