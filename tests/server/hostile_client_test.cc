// Clients that break the rules gRPC's own clients follow, spoken to the
// server as raw HTTP/2 (tests/server/raw_http2_client.h): a reader that
// grants no flow-control window and never reads, streams reset in the
// middle of their upload or right after it, connections left idle or held
// open for long. Each must cost the server bounded memory and time, be
// counted for what it is, and leave every other caller served.
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/raw_http2_client.h"
#include "tests/server/server_process.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

constexpr char kZerosLikePath[] = "/tensorops.v1.TensorOps/ZerosLike";
constexpr char kTopKPath[] = "/tensorops.v1.TensorOps/TopK";
constexpr char kBackwardPath[] = "/tensorops.v1.TensorOps/Backward";
constexpr char kInflight[] = "tensorops_inflight_requests";
constexpr char kWriteTimeouts[] = "tensorops_response_write_timeouts_total";
constexpr int64_t kMiB = int64_t{1} << 20;

// A reader that never takes a byte: no window for DATA, a tiny socket
// buffer, and no reads.
constexpr RawHttp2Client::Options kStalledReader = {
    .initial_window_size = 0, .receive_buffer_bytes = 4096};

// 11 bytes asking for 256 MiB: ZerosLike of an int8 [2^28] without data.
std::string ZerosLikeInt8(int64_t elements) {
  v1::ZerosLikeRequest request;
  request.mutable_input()->set_dtype(v1::DTYPE_INT8);
  request.mutable_input()->add_shape(elements);
  return request.SerializeAsString();
}

v1::TopKRequest SmallTopK(bool save) { return TopKOf({3, 1, 4, 2}, 2, save); }

// A normal client's small TopK works, with the right answer.
void ExpectSmallTopKWorks(const std::shared_ptr<grpc::Channel>& channel) {
  server::testing::ExpectSmallTopKWorks(*v1::TensorOps::NewStub(channel),
                                        absl::Seconds(30));
}

bool BuiltWithAddressSanitizer() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#else
  return false;
#endif
}

// --- a reader that never reads -----------------------------------------

// Six 11-byte requests for 256 MiB results on one connection that never
// reads: before, each held its result in the server (1.59 GB after six)
// while the in-flight gauge showed 0. Now the response budget admits two,
// refuses the rest before computing, counts the held ones in flight, and
// the write deadline cancels them and frees their memory.
TEST(SlowReaderTest, UnreadResponsesStayWithinTheBudgetUntilTheWriteTimeout) {
  // glibc's default malloc returns large freed blocks to the system, so
  // resident memory follows what is live.
  auto server = ServerProcess::Start(
      {"--max_message_bytes=314572800",            // 300 MiB
       "--max_inflight_response_bytes=629145600",  // 600 MiB: two responses
       "--response_write_timeout=6s"},
      0, {"TENSOROPS_MALLOC_DEFAULTS=1"});
  ASSERT_NE(server, nullptr);
  const int64_t baseline = server->ResidentBytes();
  auto reader = RawHttp2Client::Connect(server->port(), kStalledReader);
  ASSERT_NE(reader, nullptr);
  for (int i = 0; i < 6; ++i) {
    ASSERT_NE(
        reader->StartCall(kZerosLikePath, ZerosLikeInt8(int64_t{1} << 28)), 0u);
  }
  EXPECT_THAT(
      server->WaitForMetric(RequestsSeries("ZerosLike", "RESOURCE_EXHAUSTED"),
                            4, absl::Seconds(60)),
      Optional(4.0));
  EXPECT_THAT(server->WaitForMetric(kInflight, 2, absl::Seconds(60)),
              Optional(2.0));

  // Meanwhile other callers are served, and a third large result is
  // refused, naming the flag.
  ExpectSmallTopKWorks(server->NewChannel());
  {
    auto stub = v1::TensorOps::NewStub(server->NewChannel());
    v1::ZerosLikeRequest request;
    ASSERT_TRUE(request.ParseFromString(ZerosLikeInt8(int64_t{1} << 28)));
    v1::ZerosLikeResponse response;
    grpc::Status refused = stub->ZerosLike(
        ContextWithTimeout(absl::Seconds(30)).get(), request, &response);
    if (server->Metric(kWriteTimeouts).value_or(0) == 0) {
      EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_THAT(refused.error_message(),
                  HasSubstr("--max_inflight_response_bytes"));
    }
  }

  // Until the write deadline, resident memory stays within the budget (and
  // holds the two results, so the bound is not met by computing nothing).
  int64_t peak = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  while (server->Metric(kWriteTimeouts).value_or(0) < 2 &&
         absl::Now() < deadline) {
    peak = std::max(peak, server->ResidentBytes());
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(server->Metric(kWriteTimeouts), Optional(2.0));
  std::printf("resident: %.0f MiB at start, %.0f MiB at most while held\n",
              static_cast<double>(baseline) / kMiB,
              static_cast<double>(peak) / kMiB);
  if (BuiltWithAddressSanitizer()) {
    std::printf(
        "(resident memory not checked: ASan's shadow and quarantine "
        "are part of it)\n");
  } else {
    EXPECT_LT(peak - baseline, 600 * kMiB + 96 * kMiB);
    EXPECT_GT(peak - baseline, 400 * kMiB);
  }

  // Cancelled by the deadline: out of flight, counted as CANCELLED, and the
  // budget is free for a caller who reads.
  EXPECT_THAT(server->WaitForMetric(kInflight, 0), Optional(0.0));
  EXPECT_THAT(server->Metric(RequestsSeries("ZerosLike", "CANCELLED")),
              Optional(2.0));
  auto stub = v1::TensorOps::NewStub(server->NewChannel());
  v1::ZerosLikeRequest request;
  ASSERT_TRUE(request.ParseFromString(ZerosLikeInt8(int64_t{1} << 28)));
  v1::ZerosLikeResponse response;
  grpc::Status read = stub->ZerosLike(
      ContextWithTimeout(absl::Seconds(60)).get(), request, &response);
  EXPECT_TRUE(read.ok()) << read.error_message();
  EXPECT_EQ(response.output().data().size(), size_t{1} << 28);
}

// With one unread response, SIGTERM used to wait the whole
// --shutdown_timeout; now the write deadline ends that call and the
// process exits soon after.
TEST(SlowReaderTest, SigtermExitsOnceTheUnreadResponseTimesOut) {
  auto server = ServerProcess::Start(
      {"--response_write_timeout=2s", "--shutdown_timeout=60s"});
  ASSERT_NE(server, nullptr);
  auto reader = RawHttp2Client::Connect(server->port(), kStalledReader);
  ASSERT_NE(reader, nullptr);
  ASSERT_NE(reader->StartCall(kZerosLikePath, ZerosLikeInt8(64 * kMiB)), 0u);
  ASSERT_THAT(server->WaitForMetric(kInflight, 1, absl::Seconds(30)),
              Optional(1.0));
  const absl::Time sigterm = absl::Now();
  ASSERT_TRUE(server->process().Signal(SIGTERM));
  EXPECT_THAT(server->process().WaitForExit(absl::Seconds(90)), Optional(0));
  const absl::Duration exit_after = absl::Now() - sigterm;
  std::printf("exit %s after SIGTERM\n",
              absl::FormatDuration(exit_after).c_str());
  // The 2 s deadline, the 1 s lame duck and a loaded machine's slack; far
  // from the 60 s timeout.
  EXPECT_LT(exit_after, absl::Seconds(20));
}

// --- streams reset around their upload ---------------------------------

double Counted(Server& server, const std::string& method,
               const std::string& code) {
  return MetricValue(server.metrics().Render(), RequestsSeries(method, code))
      .value_or(0);
}

// Polls until `condition` holds; false after 30 s.
template <typename Condition>
bool Eventually(Condition condition) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// A client that gives up during its upload: gRPC hands the service an
// empty request, which used to be answered and counted as INVALID_ARGUMENT.
TEST(ResetStreamTest, CallsResetDuringTheirUploadCountAsCancelled) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  auto client = RawHttp2Client::Connect(server->server().port(), {});
  ASSERT_NE(client, nullptr);
  constexpr int kCalls = 20;
  for (int i = 0; i < kCalls; ++i) {
    const uint32_t stream =
        client->StartTruncatedCall(kTopKPath, /*announced_bytes=*/1000, "\x0a");
    ASSERT_NE(stream, 0u);
    ASSERT_TRUE(client->ResetStream(stream));
  }
  EXPECT_TRUE(Eventually([&] {
    return Counted(server->server(), "TopK", "CANCELLED") == kCalls;
  })) << server->server().metrics().Render();
  EXPECT_EQ(Counted(server->server(), "TopK", "INVALID_ARGUMENT"), 0);
  ExpectSmallTopKWorks(server->channel());
}

// Rapid reset: valid calls reset as soon as they are sent are either
// answered before the reset arrives (OK) or cancelled, never invalid.
TEST(ResetStreamTest, ValidCallsResetRightAfterTheUploadAreNeverInvalid) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  auto client = RawHttp2Client::Connect(server->server().port(), {});
  ASSERT_NE(client, nullptr);
  const std::string request = SmallTopK(false).SerializeAsString();
  constexpr int kCalls = 200;
  for (int i = 0; i < kCalls; ++i) {
    const uint32_t stream = client->StartCall(kTopKPath, request);
    ASSERT_NE(stream, 0u);
    ASSERT_TRUE(client->ResetStream(stream));
  }
  EXPECT_TRUE(Eventually([&] {
    return Counted(server->server(), "TopK", "OK") +
               Counted(server->server(), "TopK", "CANCELLED") ==
           kCalls;
  })) << server->server().metrics().Render();
  EXPECT_EQ(Counted(server->server(), "TopK", "INVALID_ARGUMENT"), 0);
}

// --- sessions of responses that were never delivered ----------------------

// TopK(save_for_backward) whose response its client never took: the saved
// session used to stay until its TTL, counting against the caller.
TEST(UndeliveredSessionTest, ASessionWhoseTopKWasNotDeliveredIsFreed) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  auto reader =
      RawHttp2Client::Connect(server->server().port(), kStalledReader);
  ASSERT_NE(reader, nullptr);
  const uint32_t stream =
      reader->StartCall(kTopKPath, SmallTopK(true).SerializeAsString());
  ASSERT_NE(stream, 0u);
  // Computed and saved; its response waits for a window that never comes.
  ASSERT_TRUE(Eventually(
      [&] { return server->server().sessions().stats().entries == 1; }));
  ASSERT_TRUE(reader->ResetStream(stream));
  EXPECT_TRUE(Eventually(
      [&] { return server->server().sessions().stats().entries == 0; }));
  EXPECT_EQ(server->server().sessions().SessionsOf(""), 0);
}

// The same when the server cancels the call itself at the write deadline.
TEST(UndeliveredSessionTest, ASessionWhoseTopKTimedOutUnreadIsFreed) {
  ServerConfig config = TestConfig();
  config.response_write_timeout = absl::Milliseconds(500);
  auto server = TestServer::Start(config);
  ASSERT_NE(server, nullptr);
  auto reader =
      RawHttp2Client::Connect(server->server().port(), kStalledReader);
  ASSERT_NE(reader, nullptr);
  ASSERT_NE(reader->StartCall(kTopKPath, SmallTopK(true).SerializeAsString()),
            0u);
  ASSERT_TRUE(Eventually([&] {
    return MetricValue(server->server().metrics().Render(), kWriteTimeouts) ==
           1.0;
  }));
  EXPECT_TRUE(Eventually(
      [&] { return server->server().sessions().stats().entries == 0; }));
}

// A Backward whose result was not delivered leaves its session usable:
// it used to be consumed when the Backward started.
TEST(UndeliveredSessionTest, ABackwardNotDeliveredLeavesTheSessionUsable) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  v1::TopKResponse saved;
  ASSERT_TRUE(server->stub()
                  .TopK(ContextWithTimeout().get(), SmallTopK(true), &saved)
                  .ok());
  v1::BackwardRequest backward;
  backward.set_session_id(saved.session_id());
  *backward.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {2}, {.5f, .25f});

  auto reader =
      RawHttp2Client::Connect(server->server().port(), kStalledReader);
  ASSERT_NE(reader, nullptr);
  const uint32_t stream =
      reader->StartCall(kBackwardPath, backward.SerializeAsString());
  ASSERT_NE(stream, 0u);
  // Claimed by that Backward: hidden while it runs.
  ASSERT_TRUE(Eventually(
      [&] { return server->server().sessions().stats().entries == 0; }));
  ASSERT_TRUE(reader->ResetStream(stream));
  ASSERT_TRUE(Eventually(
      [&] { return server->server().sessions().stats().entries == 1; }));

  // The retry gets the gradient and consumes the session.
  v1::BackwardResponse response;
  grpc::Status retry =
      server->stub().Backward(ContextWithTimeout().get(), backward, &response);
  ASSERT_TRUE(retry.ok()) << retry.error_message();
  EXPECT_EQ(WireValues<float>(response.grad_input()),
            std::vector<float>({.25f, 0, .5f, 0}));
  grpc::Status again =
      server->stub().Backward(ContextWithTimeout().get(), backward, &response);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

// --- connections left open -----------------------------------------------

// An idle connection used to stay open for good (watched for 150 s).
TEST(ConnectionLimitsTest, AnIdleConnectionIsSentAGoAway) {
  ServerConfig config = TestConfig();
  config.max_connection_idle = absl::Seconds(1);
  auto server = TestServer::Start(config);
  ASSERT_NE(server, nullptr);
  auto client = RawHttp2Client::Connect(server->server().port(), {});
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->NextFrameOfType(FrameType::kGoAway, absl::Seconds(20))
                  .has_value());
  EXPECT_TRUE(client->WaitForClose(absl::Seconds(20)));
}

// A connection past its age is sent a GOAWAY even with a call open, and
// closed once the grace is over.
TEST(ConnectionLimitsTest, AnOldConnectionIsClosedAfterItsGrace) {
  ServerConfig config = TestConfig();
  config.max_connection_age = absl::Seconds(1);
  config.max_connection_age_grace = absl::Seconds(1);
  auto server = TestServer::Start(config);
  ASSERT_NE(server, nullptr);
  auto client = RawHttp2Client::Connect(server->server().port(), {});
  ASSERT_NE(client, nullptr);
  // A health Watch never ends by itself.
  ASSERT_NE(client->StartCall("/grpc.health.v1.Health/Watch", "",
                              /*end_stream=*/false),
            0u);
  EXPECT_TRUE(client->NextFrameOfType(FrameType::kGoAway, absl::Seconds(20))
                  .has_value());
  EXPECT_TRUE(client->WaitForClose(absl::Seconds(20)));
}

}  // namespace
}  // namespace tensorops::server::testing
