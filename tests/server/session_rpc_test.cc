// The Backward session lifecycle over RPC: save, consume, retain, release,
// TTL expiry, eviction under the byte cap, and many clients at once.
#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// TopK(k) of a float32 vector with save_for_backward; the response.
struct BackwardResult {
  grpc::Status status;
  std::vector<float> grad_input;
};

BackwardResult Backward(v1::TensorOps::Stub& stub, const std::string& session,
                        const std::vector<float>& grad, bool retain = false) {
  v1::BackwardRequest request;
  request.set_session_id(session);
  request.set_retain_session(retain);
  *request.mutable_grad_values() =
      WireTensor(v1::DTYPE_FLOAT32, {static_cast<int64_t>(grad.size())}, grad);
  v1::BackwardResponse response;
  BackwardResult result;
  result.status = stub.Backward(ContextWithTimeout().get(), request, &response);
  if (result.status.ok()) {
    result.grad_input = WireValues<float>(response.grad_input());
  }
  return result;
}

grpc::Status Release(v1::TensorOps::Stub& stub, const std::string& session) {
  v1::ReleaseSessionRequest request;
  request.set_session_id(session);
  v1::ReleaseSessionResponse response;
  return stub.ReleaseSession(ContextWithTimeout().get(), request, &response);
}

TEST(SessionRpcTest, BackwardConsumesTheSessionAndASecondIsRefused) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  const v1::TopKResponse saved = SaveTopK(server->stub(), {3, 1, 4, 2}, 2);
  BackwardResult first =
      Backward(server->stub(), saved.session_id(), {.1f, .2f});
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_THAT(first.grad_input, ElementsAre(.2f, 0.f, .1f, 0.f));

  BackwardResult second =
      Backward(server->stub(), saved.session_id(), {.1f, .2f});
  EXPECT_EQ(second.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(second.status.error_message(), HasSubstr("already consumed"));
  EXPECT_THAT(second.status.error_message(), HasSubstr("retain_session"));
  EXPECT_EQ(server->server().sessions().stats().entries, 0);
}

TEST(SessionRpcTest, RetainSessionAllowsRepeatsUntilAPlainBackward) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  const v1::TopKResponse saved = SaveTopK(server->stub(), {3, 1, 4, 2}, 2);
  for (float scale : {1.f, 2.f, 3.f}) {
    BackwardResult result = Backward(server->stub(), saved.session_id(),
                                     {scale, 10 * scale}, /*retain=*/true);
    ASSERT_TRUE(result.status.ok()) << result.status.error_message();
    EXPECT_THAT(result.grad_input, ElementsAre(10 * scale, 0.f, scale, 0.f));
  }
  EXPECT_EQ(server->server().sessions().stats().entries, 1);
  EXPECT_TRUE(Backward(server->stub(), saved.session_id(), {1, 1}).status.ok());
  EXPECT_EQ(
      Backward(server->stub(), saved.session_id(), {1, 1}).status.error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(SessionRpcTest, ABadGradientDoesNotConsumeTheSession) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  const v1::TopKResponse saved = SaveTopK(server->stub(), {3, 1, 4, 2}, 2);
  BackwardResult wrong =
      Backward(server->stub(), saved.session_id(), {1, 2, 3});
  EXPECT_EQ(wrong.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(wrong.status.error_message(),
              HasSubstr("does not fit the saved TopK"));
  EXPECT_TRUE(Backward(server->stub(), saved.session_id(), {1, 2}).status.ok());
}

TEST(SessionRpcTest, ReleasedSessionsAreGoneWithAReason) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  const v1::TopKResponse saved = SaveTopK(server->stub(), {3, 1, 4, 2}, 2);
  ASSERT_TRUE(Release(server->stub(), saved.session_id()).ok());
  BackwardResult after = Backward(server->stub(), saved.session_id(), {1, 2});
  EXPECT_EQ(after.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(after.status.error_message(), HasSubstr("released"));
  grpc::Status again = Release(server->stub(), saved.session_id());
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(SessionRpcTest, UnknownIdsAreNotFound) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  const std::string never_issued(32, 'e');
  BackwardResult result = Backward(server->stub(), never_issued, {1});
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(result.status.error_message(), HasSubstr("unknown"));
  grpc::Status release = Release(server->stub(), never_issued);
  EXPECT_EQ(release.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(release.error_message(), HasSubstr("unknown"));
}

TEST(SessionRpcTest, IdleSessionsExpireAfterTheTtl) {
  ServerConfig config = TestConfig();
  config.session_ttl = absl::Milliseconds(100);
  auto server = TestServer::Start(config);
  ASSERT_NE(server, nullptr);
  const v1::TopKResponse saved = SaveTopK(server->stub(), {3, 1, 4, 2}, 2);
  EXPECT_EQ(server->server().sessions().stats().entries, 1);
  // The reaper frees it without any further call.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (server->server().sessions().stats().entries > 0 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(server->server().sessions().stats().entries, 0);
  EXPECT_EQ(server->server().sessions().stats().expirations, 1);
  BackwardResult late = Backward(server->stub(), saved.session_id(), {1, 2});
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(late.status.error_message(), HasSubstr("expired"));
  EXPECT_THAT(late.status.error_message(), HasSubstr("--session_ttl"));
}

TEST(SessionRpcTest, OldestSessionsAreEvictedUnderTheByteCap) {
  ServerConfig config = TestConfig();
  // Room for two sessions of 100 indices each, not three.
  const int64_t footprint =
      SessionCache::SessionFootprintBytes(100 * sizeof(int64_t), 1);
  config.session_cache_bytes = 2 * footprint + footprint / 2;
  auto server = TestServer::Start(config);
  ASSERT_NE(server, nullptr);
  std::vector<float> values(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(SaveTopK(server->stub(), values, 100).session_id());
    absl::SleepFor(absl::Milliseconds(2));  // distinct last-use times
  }
  const SessionCacheStats stats = server->server().sessions().stats();
  EXPECT_EQ(stats.entries, 2);
  EXPECT_EQ(stats.evictions, 1);
  EXPECT_LE(stats.bytes, config.session_cache_bytes);

  const std::vector<float> grad(100, 1.f);
  BackwardResult evicted = Backward(server->stub(), ids[0], grad);
  EXPECT_EQ(evicted.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(evicted.status.error_message(), HasSubstr("evicted"));
  EXPECT_TRUE(Backward(server->stub(), ids[1], grad).status.ok());
  EXPECT_TRUE(Backward(server->stub(), ids[2], grad).status.ok());
}

TEST(SessionRpcTest, ASessionLargerThanTheCacheIsRefusedBeforeComputing) {
  ServerConfig config = TestConfig();
  config.session_cache_bytes = 1000;
  auto server = TestServer::Start(config);
  ASSERT_NE(server, nullptr);
  v1::TopKRequest request;
  *request.mutable_input() =
      WireTensor(v1::DTYPE_FLOAT32, {1000}, std::vector<float>(1000, 1.f));
  request.set_k(500);
  request.set_save_for_backward(true);
  v1::TopKResponse response;
  grpc::Status status =
      server->stub().TopK(ContextWithTimeout().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("--session_cache_bytes"));
  // Without saving, the same TopK is fine.
  request.set_save_for_backward(false);
  EXPECT_TRUE(
      server->stub().TopK(ContextWithTimeout().get(), request, &response).ok());
}

TEST(SessionRpcTest, ManyClientsInterleavingSessions) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  constexpr int kThreads = 8;
  constexpr int kRounds = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread its own connection, so calls really interleave.
      auto stub = v1::TensorOps::NewStub(server->NewChannel());
      std::mt19937 random(t);
      std::uniform_real_distribution<float> uniform(-1.f, 1.f);
      for (int round = 0; round < kRounds; ++round) {
        std::vector<float> values(64);
        for (float& value : values) value = uniform(random);
        const v1::TopKResponse saved = SaveTopK(*stub, values, 3);
        const std::vector<int64_t> indices =
            WireValues<int64_t>(saved.indices());
        const std::vector<float> grad = {1.f + t, 2.f + round, 3.f};
        std::vector<float> expected(64, 0.f);
        for (int j = 0; j < 3; ++j) expected[indices[j]] = grad[j];
        BackwardResult kept = Backward(*stub, saved.session_id(), grad, true);
        BackwardResult used = Backward(*stub, saved.session_id(), grad);
        BackwardResult refused = Backward(*stub, saved.session_id(), grad);
        if (!kept.status.ok() || kept.grad_input != expected ||
            !used.status.ok() || used.grad_input != expected ||
            refused.status.error_code() !=
                grpc::StatusCode::FAILED_PRECONDITION) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(server->server().sessions().stats().entries, 0);
}

TEST(SessionRpcTest, ConcurrentBackwardsOnOneSessionExactlyOneWins) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  const v1::TopKResponse saved = SaveTopK(server->stub(), {3, 1, 4, 2}, 2);
  constexpr int kThreads = 6;
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      BackwardResult result =
          Backward(server->stub(), saved.session_id(), {1, 2});
      if (result.status.ok()) ++ok;
      if (result.status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        ++refused;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(refused.load(), kThreads - 1);
}

}  // namespace
}  // namespace tensorops::server::testing
