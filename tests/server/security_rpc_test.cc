// Security controls over RPC: bearer tokens, TLS and mutual TLS, and the
// session ownership they give.
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
#include "tests/server/caller_test_util.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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

// Two CA-signed certificates naming nobody used to be accepted as one and
// the same owner, sharing sessions.
TEST_F(TlsTest, CertificatesWithoutAnIdentityAreRefused) {
  auto server = TestServer::Start(TlsConfig(/*mutual=*/true));
  ASSERT_NE(server, nullptr);
  for (const char* who : {"nobody", "somebody-else"}) {
    Caller caller(TlsChannel(*server, "ca.pem", who));
    v1::TopKResponse saved;
    grpc::Status refused = caller.TopK({3, 1, 4, 2}, 2, true, &saved);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED) << who;
    EXPECT_THAT(refused.error_message(), HasSubstr("names no identity"));
  }
  EXPECT_EQ(server->server().sessions().stats().entries, 0);
}

// The identity used to be the SANs joined by ",": one SAN "alice,bob" was
// the same owner as the two SANs "alice" and "bob".
TEST_F(TlsTest, OneSanWithACommaIsNotTwoSans) {
  auto server = TestServer::Start(TlsConfig(/*mutual=*/true));
  ASSERT_NE(server, nullptr);
  Caller comma(TlsChannel(*server, "ca.pem", "comma-san"));
  Caller two(TlsChannel(*server, "ca.pem", "two-sans"));
  v1::TopKResponse saved;
  ASSERT_TRUE(comma.TopK({3, 1, 4, 2}, 2, true, &saved).ok());
  EXPECT_EQ(two.Backward(saved.session_id(), {1, 1}).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(two.Release(saved.session_id()).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(two.TopK({3, 1, 4, 2}, 2, true, &saved).ok());
  EXPECT_EQ(comma.Backward(saved.session_id(), {1, 1}).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(two.Backward(saved.session_id(), {1, 1}).ok());
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

}  // namespace
}  // namespace tensorops::server::testing
