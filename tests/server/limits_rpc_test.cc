// The request limits over RPC (elements, calls in flight, sessions and
// session bytes per caller) and cancellation: abandoned work is not done, and
// a cancelled Backward leaves its session usable.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/caller_test_util.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::HasSubstr;

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

// The hostile test: token A saved 8 sessions of 8 MiB within its count
// limit in a 64 MiB cache, and all 4 of token B's sessions were evicted.
// (Here scaled down 64 times: a 1 MiB cache, A's sessions 128 KiB.)
TEST(LimitsTest, AHeavyCallerCannotEvictALightCallersSessions) {
  const std::filesystem::path dir = MakeTempDir("fair-sessions");
  WriteFile(dir / "tokens", absl::StrCat(kAliceToken, "\n", kBobToken, "\n"));
  ServerConfig config = TestConfig();
  config.session_cache_bytes = int64_t{1} << 20;
  config.max_sessions_per_caller = 8;
  config.auth_tokens_file = (dir / "tokens").string();
  auto server = TestServer::Start(config);
  ASSERT_NE(server, nullptr);
  Caller heavy(server->channel(), kAliceToken);
  Caller light(server->channel(), kBobToken);

  std::vector<std::string> light_sessions;
  for (int i = 0; i < 4; ++i) {
    v1::TopKResponse saved;
    ASSERT_TRUE(light.TopK({3, 1, 4, 2}, 2, true, &saved).ok());
    light_sessions.push_back(saved.session_id());
  }
  // 16384 int64 indices: 128 KiB per session, 8 of them fill the cache.
  std::vector<float> big(16384);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);
  for (int i = 0; i < 12; ++i) {
    v1::TopKResponse saved;
    grpc::Status status = heavy.TopK(big, 16384, true, &saved);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  // Every light session survived and still works.
  for (const std::string& id : light_sessions) {
    std::vector<float> grad_input;
    grpc::Status status = light.Backward(id, {.5f, .25f}, &grad_input);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(grad_input, std::vector<float>({.25f, 0, .5f, 0}));
  }
  v1::GetServerInfoResponse info;
  ASSERT_TRUE(heavy.Info(&info).ok());
  EXPECT_LE(info.session_bytes(), config.session_cache_bytes);
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

// A Backward cancelled before it ran used to have consumed its session
// already (it was taken while the request was checked): the retry failed.
TEST(CancellationRpcTest, ABackwardCancelledBeforeItRunsLeavesTheSession) {
  GatedExecutor executor;
  executor.Open();
  ServerOverrides overrides;
  overrides.executor = &executor;
  overrides.inline_work_bytes = -1;
  auto server = TestServer::Start(TestConfig(), overrides);
  ASSERT_NE(server, nullptr);
  Caller caller(server->channel());
  v1::TopKResponse saved;
  ASSERT_TRUE(caller.TopK({3, 1, 4, 2}, 2, true, &saved).ok());

  executor.Close();
  v1::BackwardRequest request;
  request.set_session_id(saved.session_id());
  *request.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {2}, {.5f, .25f});
  v1::BackwardResponse response;
  std::unique_ptr<grpc::ClientContext> context = caller.Context();
  absl::Notification done;
  grpc::Status status;
  caller.stub().async()->Backward(context.get(), &request, &response,
                                  [&](grpc::Status s) {
                                    status = std::move(s);
                                    done.Notify();
                                  });
  ASSERT_TRUE(executor.WaitForSubmitted(2));
  context->TryCancel();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  // The server learns of the cancellation and gives the session back, while
  // the call still waits in the executor.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (server->server().sessions().stats().entries != 1 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(server->server().sessions().stats().entries, 1);

  executor.Open();
  std::vector<float> grad_input;
  grpc::Status retry =
      caller.Backward(saved.session_id(), {.5f, .25f}, &grad_input);
  ASSERT_TRUE(retry.ok()) << retry.error_message();
  EXPECT_EQ(grad_input, std::vector<float>({.25f, 0, .5f, 0}));
  EXPECT_EQ(caller.Backward(saved.session_id(), {1, 1}).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

}  // namespace
}  // namespace tensorops::server::testing
