// Faults around the tensorops-server binary: clients that give up mid-call
// (deadline, cancel, killed process), SIGTERM under load, a session cache at
// its byte cap, and a restart that loses every session.
//
// This binary doubles as the client that gets killed: run with
// --hanging_client=HOST:PORT it sends one large TopK and waits for it.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_process.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

constexpr char kHangingClientFlag[] = "--hanging_client=";
const std::string kServing("\x08\x01", 2);

// A float32 vector holding a permutation of 0..n-1 (exact in float32 for
// n <= 2^24), so the top k of it are known without sorting: the values
// n-1, n-2, ... at the positions `position_of` gives.
struct Permutation {
  std::vector<float> values;
  std::vector<int64_t> position_of;

  explicit Permutation(int64_t n) : values(n), position_of(n) {
    // 7919 is prime and n a power of two, so i -> 7919 i mod n is a
    // bijection.
    for (int64_t i = 0; i < n; ++i) {
      const int64_t v = (i * 7919) % n;
      values[i] = static_cast<float>(v);
      position_of[v] = i;
    }
  }
};

// Checks a largest-first TopK of a Permutation.
void ExpectTopOfPermutation(const Permutation& input,
                            const v1::TopKResponse& response, int64_t k) {
  const std::vector<float> values = WireValues<float>(response.values());
  const std::vector<int64_t> indices = WireValues<int64_t>(response.indices());
  ASSERT_EQ(values.size(), static_cast<size_t>(k));
  ASSERT_EQ(indices.size(), static_cast<size_t>(k));
  const int64_t n = static_cast<int64_t>(input.values.size());
  int64_t wrong = 0;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t expected = n - 1 - j;
    if (values[j] != static_cast<float>(expected) ||
        indices[j] != input.position_of[expected]) {
      ++wrong;
    }
  }
  EXPECT_EQ(wrong, 0) << "of " << k << " selected elements";
}

// An async unary call whose completion can be awaited.
template <typename Request, typename Response>
struct Pending {
  grpc::ClientContext context;
  Request request;
  Response response;
  grpc::Status status;
  absl::Time finished;
  absl::Notification done;
  bool started = false;

  // A test that stops early (a failed ASSERT) must not free a call gRPC
  // still writes into: cancel it and wait for its end.
  ~Pending() {
    if (started && !done.HasBeenNotified()) {
      context.TryCancel();
      done.WaitForNotificationWithTimeout(absl::Seconds(60));
    }
  }

  template <typename StartFn>
  void Start(StartFn start, absl::Duration timeout) {
    started = true;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    start(&context, &request, &response, [this](grpc::Status s) {
      status = std::move(s);
      finished = absl::Now();
      done.Notify();
    });
  }
  bool Wait(absl::Duration timeout = absl::Seconds(60)) {
    return done.WaitForNotificationWithTimeout(timeout);
  }
};
using PendingTopK = Pending<v1::TopKRequest, v1::TopKResponse>;

void StartTopK(v1::TensorOps::Stub& stub, PendingTopK& call,
               absl::Duration timeout) {
  call.Start(
      [&stub](grpc::ClientContext* context, const v1::TopKRequest* request,
              v1::TopKResponse* response, auto done) {
        stub.async()->TopK(context, request, response, std::move(done));
      },
      timeout);
}

std::string HealthOf(const std::shared_ptr<grpc::Channel>& channel) {
  RawResponse health = RawUnary(channel, "/grpc.health.v1.Health/Check", "");
  return health.status.ok()
             ? health.message
             : absl::StrCat("error ", health.status.error_code());
}

std::string SelfPath() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : "";
}

// The --hanging_client mode: connects and prepares one large TopK, says
// "ready", sends it on SIGUSR1 and waits for it until killed.
int RunHangingClient(const std::string& target) {
  // Blocked before gRPC starts its threads, so only sigwait() receives it.
  sigset_t go;
  sigemptyset(&go);
  sigaddset(&go, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &go, nullptr);
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);
  arguments.SetMaxSendMessageSize(-1);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), arguments);
  auto stub = v1::TensorOps::NewStub(channel);
  const Permutation input(int64_t{1} << 22);  // 16 MiB of float32
  v1::TopKRequest request = TopKOf(input.values, 1000);
  if (!channel->WaitForConnected(
          absl::ToChronoTime(absl::Now() + absl::Seconds(30)))) {
    std::printf("hanging client: cannot connect\n");
    return 1;
  }
  std::printf("hanging client: ready\n");
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&go, &signal_number);
  std::printf("hanging client: sending\n");
  std::fflush(stdout);
  v1::TopKResponse response;
  grpc::Status status = stub->TopK(ContextWithTimeout(absl::Seconds(120)).get(),
                                   request, &response);
  std::printf("hanging client: finished with %d\n",
              static_cast<int>(status.error_code()));
  return 0;
}

TEST(FaultTest, ClientsGivingUpMidCallAreCountedAndDoNotHurtTheServer) {
  // One compute thread, so calls queue behind large "blocker" calls and are
  // still in the server (counted in flight) when their clients give up.
  auto server = ServerProcess::Start({"--threads=1"});
  ASSERT_NE(server, nullptr);
  auto stub = v1::TensorOps::NewStub(server->NewChannel());
  // The client process to kill, connected and ready to send at once.
  auto client = ChildProcess::Spawn(
      SelfPath(), {absl::StrCat(kHangingClientFlag, server->target())});
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->WaitForOutput("ready", absl::Seconds(30)))
      << client->Output();
  const int64_t n = int64_t{1} << 22;  // 16 MiB of float32 per call
  const int64_t k = n / 2;             // sorts half of it
  const Permutation input(n);

  // Enough blockers to keep the server busy for ~8 s on this machine (at
  // most 40, 640 MiB), timed on a warm server (the second of two calls);
  // the slack covers loaded CI machines.
  absl::Duration one_blocker;
  for (int i = 0; i < 2; ++i) {
    v1::TopKRequest request = TopKOf(input.values, k);
    v1::TopKResponse response;
    const absl::Time start = absl::Now();
    grpc::Status status = stub->TopK(
        ContextWithTimeout(absl::Seconds(60)).get(), request, &response);
    one_blocker = absl::Now() - start;
    ASSERT_TRUE(status.ok()) << status.error_message();
    ExpectTopOfPermutation(input, response, k);
  }
  const int blocker_count = std::clamp(
      static_cast<int>(std::ceil(absl::Seconds(8) / one_blocker)), 2, 40);
  std::vector<std::unique_ptr<PendingTopK>> blockers;
  for (int i = 0; i < blocker_count; ++i) {
    blockers.push_back(std::make_unique<PendingTopK>());
    blockers.back()->request = TopKOf(input.values, k);
    StartTopK(*stub, *blockers.back(), absl::Seconds(120));
  }
  auto blockers_running = [&] {
    int running = 0;
    for (auto& blocker : blockers) running += !blocker->done.HasBeenNotified();
    return running;
  };
  // Whether `victims` calls besides the blockers have reached the server.
  // The blockers still running are counted before the scrape: the server
  // is done with a call no later than its client, so this bounds from
  // above the blockers the scrape can include.
  auto victims_arrived = [&](int victims) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      const int running = blockers_running();
      const double inflight =
          server->Metric("tensorops_inflight_requests").value_or(-1);
      if (inflight - running >= victims) return true;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return false;
  };
  ASSERT_TRUE(victims_arrived(0));

  // 1. A 4 MiB call whose 200 ms deadline passes while it waits in the
  // queue (first, so that the most work is ahead of it).
  auto deadline_stub = v1::TensorOps::NewStub(server->NewChannel());
  PendingTopK expired;
  const Permutation medium(int64_t{1} << 20);
  expired.request = TopKOf(medium.values, 10);
  StartTopK(*deadline_stub, expired, absl::Milliseconds(200));
  ASSERT_TRUE(victims_arrived(1));

  // 2. A 16 MiB call its client cancels once the server has it.
  auto cancel_stub = v1::TensorOps::NewStub(server->NewChannel());
  PendingTopK cancelled;
  cancelled.request = TopKOf(input.values, 10);
  StartTopK(*cancel_stub, cancelled, absl::Seconds(120));
  ASSERT_TRUE(victims_arrived(2));
  cancelled.context.TryCancel();

  // 3. A client process killed while its 16 MiB call is in the server.
  ASSERT_TRUE(client->Signal(SIGUSR1));
  ASSERT_TRUE(victims_arrived(3)) << client->Output();
  const int still_running = blockers_running();
  ASSERT_TRUE(client->Signal(SIGKILL));
  EXPECT_EQ(client->WaitForExit(absl::Seconds(10)), 128 + SIGKILL);
  EXPECT_THAT(client->Output(), HasSubstr("sending"));
  EXPECT_THAT(client->Output(), ::testing::Not(HasSubstr("finished")));
  ASSERT_GT(still_running, 0)
      << "the blockers ended before the last victim was in place, so it may "
         "have been computed; the test needs more of them";

  // The victims' clients see their own outcome ...
  ASSERT_TRUE(cancelled.Wait());
  EXPECT_EQ(cancelled.status.error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(expired.Wait());
  EXPECT_EQ(expired.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // ... while the calls ahead of them complete correctly.
  for (auto& blocker : blockers) {
    ASSERT_TRUE(blocker->Wait());
    ASSERT_TRUE(blocker->status.ok()) << blocker->status.error_message();
    ExpectTopOfPermutation(input, blocker->response, k);
  }
  std::printf(
      "%d blockers of %s each; %d were still running when the last "
      "victim arrived\n",
      blocker_count, absl::FormatDuration(one_blocker).c_str(), still_running);

  // The server counted the three abandoned calls as cancelled (or past
  // their deadline) and none is left in flight.
  EXPECT_THAT(server->WaitForMetric("tensorops_inflight_requests", 0),
              Optional(0.0));
  const std::string metrics = server->ScrapeMetrics();
  const double abandoned =
      MetricValue(metrics, RequestsSeries("TopK", "CANCELLED")).value_or(0) +
      MetricValue(metrics, RequestsSeries("TopK", "DEADLINE_EXCEEDED"))
          .value_or(0);
  EXPECT_EQ(abandoned, 3) << metrics;
  EXPECT_THAT(MetricValue(metrics, RequestsSeries("TopK", "OK")),
              Optional(static_cast<double>(blocker_count + 2)));

  // And it serves the next calls, on old and new connections alike.
  ExpectSmallTopKWorks(*stub);
  ExpectSmallTopKWorks(*v1::TensorOps::NewStub(server->NewChannel()));
  EXPECT_EQ(HealthOf(server->NewChannel()), kServing);
}

// What one call of the load saw.
struct CallRecord {
  absl::Time start;
  absl::Time end;
  grpc::StatusCode code;
  bool correct;
};

// How long the process may take to exit after --shutdown_timeout: process
// and scheduling noise only. (The server leaves with _Exit once drained;
// destroying gRPC used to add up to ~10 s in grpc_shutdown().)
constexpr absl::Duration kExitAllowance = absl::Seconds(2);

TEST(FaultTest, SigtermUnderLoadFinishesCallsInFlightAndRefusesNewOnes) {
  constexpr absl::Duration kShutdownTimeout = absl::Seconds(4);
  // A lame duck long enough that the clients below give up (after 20
  // refusals in a row) before gRPC itself shuts down.
  auto server = ServerProcess::Start(
      {"--threads=1", "--lame_duck=3s",
       absl::StrCat("--shutdown_timeout=",
                    absl::ToInt64Seconds(kShutdownTimeout), "s")});
  ASSERT_NE(server, nullptr);

  // Large calls queued in the server when the signal comes (one compute
  // thread): every one must complete, correctly. As many as take about 1.5 s
  // on this machine (measured while warm), so that some are still queued 300 ms
  // later and all finish well within the shutdown timeout.
  const int64_t n = int64_t{1} << 22;
  const int64_t k = n / 8;
  const Permutation input(n);
  auto queued_stub = v1::TensorOps::NewStub(server->NewChannel());
  // The faster of two calls: the first also warms up.
  absl::Duration one_call = absl::InfiniteDuration();
  for (int i = 0; i < 2; ++i) {
    const absl::Time start = absl::Now();
    v1::TopKResponse response;
    ASSERT_TRUE(queued_stub
                    ->TopK(ContextWithTimeout(absl::Seconds(60)).get(),
                           TopKOf(input.values, k), &response)
                    .ok());
    one_call = std::min(one_call, absl::Now() - start);
  }
  const int kQueued = std::clamp(
      static_cast<int>(std::ceil(absl::Milliseconds(1500) / one_call)), 3, 30);
  std::vector<std::unique_ptr<PendingTopK>> queued;
  for (int i = 0; i < kQueued; ++i) {
    queued.push_back(std::make_unique<PendingTopK>());
    queued.back()->request = TopKOf(input.values, k);
    StartTopK(*queued_stub, *queued.back(), absl::Seconds(60));
  }
  // All of them reached the server: each is in flight there or done.
  {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    bool arrived = false;
    while (!arrived && absl::Now() < deadline) {
      const double inflight =
          server->Metric("tensorops_inflight_requests").value_or(0);
      int done = 0;
      for (auto& call : queued) done += call->done.HasBeenNotified();
      arrived = inflight + done >= kQueued;
      absl::SleepFor(absl::Milliseconds(2));
    }
    ASSERT_TRUE(arrived);
  }

  // Small calls in a loop from several threads, each on its own
  // connection, until the server has refused them for a while.
  constexpr int kThreads = 4;
  absl::Mutex mutex;
  std::vector<CallRecord> records;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto stub = v1::TensorOps::NewStub(server->NewChannel());
      std::vector<CallRecord> mine;
      for (int i = 0, refused = 0; refused < 20; ++i) {
        // k=2 of 0..3 rotated: always [3, 2].
        std::vector<float> values = {0, 1, 2, 3};
        std::rotate(values.begin(), values.begin() + (i + t) % 4, values.end());
        v1::TopKRequest request = TopKOf(values, 2);
        v1::TopKResponse response;
        CallRecord record;
        record.start = absl::Now();
        grpc::Status status = stub->TopK(
            ContextWithTimeout(absl::Seconds(20)).get(), request, &response);
        record.end = absl::Now();
        record.code = status.error_code();
        record.correct = status.ok() && WireValues<float>(response.values()) ==
                                            std::vector<float>{3, 2};
        mine.push_back(record);
        refused = status.error_code() == grpc::StatusCode::UNAVAILABLE
                      ? refused + 1
                      : 0;
        if (!status.ok()) absl::SleepFor(absl::Milliseconds(5));
      }
      absl::MutexLock lock(&mutex);
      records.insert(records.end(), mine.begin(), mine.end());
      // The stub, and with it its connection, goes here.
    });
  }

  absl::SleepFor(absl::Milliseconds(300));
  absl::Time sigterm, drain_seen;
  {
    RawCall watch(server->NewChannel(), "/grpc.health.v1.Health/Watch",
                  absl::Seconds(30));
    ASSERT_TRUE(watch.Write(""));
    ASSERT_EQ(watch.Read(), kServing);
    sigterm = absl::Now();
    ASSERT_TRUE(server->process().Signal(SIGTERM));
    // The drain begins: health turns NOT_SERVING.
    EXPECT_EQ(watch.Read(), std::string("\x08\x02", 2));
    drain_seen = absl::Now();
    // The watch (a call in flight too) is cancelled and its connection
    // closed here.
  }

  // Every call queued before the signal completes, correctly, the last ones
  // during the drain.
  for (auto& call : queued) {
    ASSERT_TRUE(call->Wait());
    ASSERT_TRUE(call->status.ok()) << call->status.error_message();
    ExpectTopOfPermutation(input, call->response, k);
  }
  EXPECT_GT(queued.back()->finished, sigterm)
      << "the queued calls were done before the signal; nothing was in "
         "flight during the drain";
  // Their contexts hold the connection: close it.
  queued.clear();
  queued_stub.reset();
  // No call that reached the service was cut short: the server (still
  // exporting metrics while it drains) has counted none as cancelled.
  if (const std::string metrics = server->ScrapeMetrics(); !metrics.empty()) {
    EXPECT_EQ(MetricValue(metrics, RequestsSeries("TopK", "CANCELLED")),
              std::nullopt);
  }

  const std::optional<int> exit_code =
      server->process().WaitForExit(kShutdownTimeout + absl::Seconds(10));
  const absl::Duration exit_after = absl::Now() - sigterm;
  for (std::thread& thread : threads) thread.join();

  EXPECT_THAT(exit_code, Optional(0)) << server->process().Output();
  EXPECT_LT(exit_after, kShutdownTimeout + kExitAllowance);
  const std::string log = server->process().Output();
  EXPECT_THAT(log, HasSubstr("received SIGTERM"));
  EXPECT_THAT(log, HasSubstr("stopped"));

  // The load saw answers (correct) and refusals: UNAVAILABLE from the
  // server's lame duck. Every call started once the drain was seen (health
  // NOT_SERVING) was refused with UNAVAILABLE, and none was cancelled (gRPC's
  // shutdown, which cancels a call that reaches it in its first moments,
  // comes only after the lame duck).
  int ok = 0, ok_during_drain = 0, refused = 0, late = 0;
  int refused_late = 0, other = 0;
  for (const CallRecord& record : records) {
    const bool started_late = record.start >= drain_seen;
    late += started_late;
    if (record.code == grpc::StatusCode::OK) {
      ++ok;
      EXPECT_TRUE(record.correct);
      ok_during_drain += record.end > sigterm;
      EXPECT_FALSE(started_late)
          << "a call started " << absl::FormatDuration(record.start - sigterm)
          << " after SIGTERM was served";
    } else if (record.code == grpc::StatusCode::UNAVAILABLE) {
      ++refused;
      refused_late += started_late;
    } else {
      ++other;
      ADD_FAILURE() << "a call failed with code " << record.code << ", started "
                    << absl::FormatDuration(record.start - sigterm)
                    << " after SIGTERM, ended "
                    << absl::FormatDuration(record.end - sigterm) << " after";
    }
  }
  std::printf(
      "load: %zu calls: %d OK (%d finished after SIGTERM), %d UNAVAILABLE "
      "(%d of the %d started once the drain was seen), %d other; exit %s "
      "after SIGTERM\n",
      records.size(), ok, ok_during_drain, refused, refused_late, late, other,
      absl::FormatDuration(exit_after).c_str());
  EXPECT_GT(ok, 0);
  EXPECT_GT(late, 0);
  EXPECT_EQ(refused_late, late);
  EXPECT_EQ(other, 0);
}

// With an idle client connection left open, the process still exits soon
// after SIGTERM: gRPC alone would wait for the idle client to answer its
// shutdown ping, which a C++ client does at its next poll of an idle channel
// (every 5 s), or for the whole --shutdown_timeout. The server closes such
// connections 250 ms after its last call is done.
TEST(FaultTest, ExitsSoonWithAnIdleClientConnected) {
  auto server = ServerProcess::Start({"--shutdown_timeout=20s"});
  ASSERT_NE(server, nullptr);
  auto stub = v1::TensorOps::NewStub(server->NewChannel());
  ExpectSmallTopKWorks(*stub);
  const absl::Time sigterm = absl::Now();
  ASSERT_TRUE(server->process().Signal(SIGTERM));
  EXPECT_THAT(server->process().WaitForExit(absl::Seconds(30)), Optional(0));
  const absl::Duration exit_after = absl::Now() - sigterm;
  std::printf("exit %s after SIGTERM\n",
              absl::FormatDuration(exit_after).c_str());
  // Well under the 5 s poll and the timeout, with room for a loaded machine.
  EXPECT_LT(exit_after, absl::Seconds(3));
  // The client sees the server gone, not a hung connection.
  v1::TopKResponse response;
  grpc::Status after =
      stub->TopK(ContextWithTimeout(absl::Seconds(5)).get(),
                 TopKOf(std::vector<float>{1, 2}, 1), &response);
  EXPECT_EQ(after.error_code(), grpc::StatusCode::UNAVAILABLE)
      << after.error_message();
}

// Four calls in flight at SIGTERM (about 2 s of work on one thread) all
// finish, and once they are done and their connection closed the process
// exits right after, well within --shutdown_timeout. The timeout leaves room
// for a loaded CI machine to take several times as long over the calls.
TEST(FaultTest, ExitsSoonAfterTheCallsInFlightAreDone) {
  constexpr absl::Duration kShutdownTimeout = absl::Seconds(12);
  const Permutation input(int64_t{1} << 22);
  for (int attempt = 0; attempt < 3; ++attempt) {
    // No lame duck: what is measured is the exit once the calls are done.
    auto server = ServerProcess::Start(
        {"--threads=1", "--shutdown_timeout=12s", "--lame_duck=0s"});
    ASSERT_NE(server, nullptr);
    auto stub = v1::TensorOps::NewStub(server->NewChannel());
    std::vector<std::unique_ptr<PendingTopK>> calls;
    for (int i = 0; i < 4; ++i) {
      calls.push_back(std::make_unique<PendingTopK>());
      calls.back()->request = TopKOf(input.values, int64_t{1} << 20);
      StartTopK(*stub, *calls.back(), absl::Seconds(60));
    }
    absl::SleepFor(absl::Milliseconds(300));
    const absl::Time sigterm = absl::Now();
    ASSERT_TRUE(server->process().Signal(SIGTERM));
    for (auto& call : calls) {
      ASSERT_TRUE(call->Wait());
      EXPECT_TRUE(call->status.ok()) << call->status.error_message();
    }
    const absl::Duration calls_done = absl::Now() - sigterm;
    calls.clear();  // their contexts hold the connection
    stub.reset();
    EXPECT_THAT(server->process().WaitForExit(absl::Seconds(30)), Optional(0));
    const absl::Duration exit_after = absl::Now() - sigterm;
    std::printf("attempt %d: calls done %s and exit %s after SIGTERM\n",
                attempt, absl::FormatDuration(calls_done).c_str(),
                absl::FormatDuration(exit_after).c_str());
    EXPECT_LT(exit_after, kShutdownTimeout);
    EXPECT_LT(exit_after - calls_done, absl::Seconds(1));
  }
}

// Saves TopK(k=100) of a fixed 1000-element ramp; returns the session id.
std::string SaveRampTopK(v1::TensorOps::Stub& stub, int shift) {
  std::vector<float> values(1000);
  for (int i = 0; i < 1000; ++i)
    values[i] = static_cast<float>((i + shift) % 1000);
  v1::TopKRequest request = TopKOf(values, 100);
  request.set_save_for_backward(true);
  v1::TopKResponse response;
  grpc::Status status =
      stub.TopK(ContextWithTimeout().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.session_id();
}

// Backward of a SaveRampTopK(shift) session with grad = 1..100 (retained
// if asked); checks the scatter: grad j lands where value 999-j is.
grpc::Status BackwardOnRamp(v1::TensorOps::Stub& stub, const std::string& id,
                            int shift, bool retain) {
  v1::BackwardRequest request;
  request.set_session_id(id);
  request.set_retain_session(retain);
  std::vector<float> grad(100);
  for (int j = 0; j < 100; ++j) grad[j] = static_cast<float>(j + 1);
  *request.mutable_grad_values() = WireTensor(v1::DTYPE_FLOAT32, {100}, grad);
  v1::BackwardResponse response;
  grpc::Status status =
      stub.Backward(ContextWithTimeout().get(), request, &response);
  if (!status.ok()) return status;
  std::vector<float> expected(1000, 0.f);
  for (int j = 0; j < 100; ++j) {
    // value (i + shift) % 1000 == 999 - j  <=>  i == (999 - j - shift) mod 1000
    const int i = ((999 - j - shift) % 1000 + 1000) % 1000;
    expected[i] = static_cast<float>(j + 1);
  }
  EXPECT_EQ(WireValues<float>(response.grad_input()), expected);
  return status;
}

TEST(FaultTest, SessionCacheAtCapacityEvictsTheLeastRecentlyUsed) {
  // Each session: 100 int64 indices (800 B) + 8 B of shape + 256 B overhead.
  constexpr int64_t kSessionBytes = 800 + 8 + 256;
  constexpr int kCapacity = 10;
  auto server = ServerProcess::Start(
      {absl::StrCat("--session_cache_bytes=", kCapacity * kSessionBytes)});
  ASSERT_NE(server, nullptr);
  auto stub = v1::TensorOps::NewStub(server->NewChannel());

  constexpr int kSaved = 25;
  constexpr int kTouchAfter = 20;
  constexpr int kTouched = kTouchAfter - kCapacity + 1;
  std::vector<std::string> ids;
  for (int s = 0; s < kSaved; ++s) {
    ids.push_back(SaveRampTopK(*stub, s));
    if (s == kTouchAfter) {
      // Sessions 11..20 are held; touching 11, the oldest, makes it the
      // most recently used, so the next saves evict 12..15 instead (LRU,
      // not first in first out).
      ASSERT_TRUE(
          BackwardOnRamp(*stub, ids[kTouched], kTouched, /*retain=*/true).ok());
    }
  }

  v1::GetServerInfoResponse info;
  ASSERT_TRUE(stub->GetServerInfo(ContextWithTimeout().get(),
                                  v1::GetServerInfoRequest(), &info)
                  .ok());
  EXPECT_EQ(info.session_count(), kCapacity);
  EXPECT_EQ(info.session_bytes(), kCapacity * kSessionBytes);
  EXPECT_LE(info.session_bytes(), info.session_cache_bytes());
  EXPECT_EQ(server->Metric("tensorops_session_cache_evictions_total"),
            kSaved - kCapacity);
  EXPECT_EQ(server->Metric("tensorops_session_cache_bytes"),
            kCapacity * kSessionBytes);

  // Survivors: the 9 newest and the touched one. Evicted: the rest, with a
  // message that says so (and ReleaseSession agrees).
  for (int s = 0; s < kSaved; ++s) {
    SCOPED_TRACE(absl::StrCat("session ", s));
    const bool survives = s >= kSaved - (kCapacity - 1) || s == kTouched;
    grpc::Status status = BackwardOnRamp(*stub, ids[s], s, /*retain=*/false);
    if (survives) {
      EXPECT_TRUE(status.ok()) << status.error_message();
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
      EXPECT_THAT(status.error_message(), HasSubstr("was evicted"));
      EXPECT_THAT(status.error_message(), HasSubstr("--session_cache_bytes"));
      v1::ReleaseSessionRequest release;
      release.set_session_id(ids[s]);
      v1::ReleaseSessionResponse released;
      grpc::Status again =
          stub->ReleaseSession(ContextWithTimeout().get(), release, &released);
      EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);
      EXPECT_THAT(again.error_message(), HasSubstr("was evicted"));
    }
  }
  // The survivors were consumed; the cache is empty and nothing more was
  // evicted.
  EXPECT_THAT(server->WaitForMetric("tensorops_session_cache_entries", 0),
              Optional(0.0));
  EXPECT_EQ(server->Metric("tensorops_session_cache_bytes"), 0);
  EXPECT_EQ(server->Metric("tensorops_session_cache_evictions_total"),
            kSaved - kCapacity);
}

TEST(FaultTest, ARestartedServerDoesNotKnowTheOldSessions) {
  // The channel below stays open across the restart, which can hold the
  // first server's drain until its --shutdown_timeout (see above).
  auto first = ServerProcess::Start({"--shutdown_timeout=1s"});
  ASSERT_NE(first, nullptr);
  const int port = first->port();
  // One channel across the restart, as a long-lived client would hold.
  std::shared_ptr<grpc::Channel> channel = first->NewChannel();
  auto stub = v1::TensorOps::NewStub(channel);
  const std::string id = SaveRampTopK(*stub, 0);
  ASSERT_TRUE(BackwardOnRamp(*stub, id, 0, /*retain=*/true).ok());

  ASSERT_TRUE(first->process().Signal(SIGTERM));
  ASSERT_THAT(first->process().WaitForExit(absl::Seconds(15)), Optional(0));
  // While it is down, calls fail fast as UNAVAILABLE.
  {
    v1::GetServerInfoResponse info;
    grpc::Status status =
        stub->GetServerInfo(ContextWithTimeout(absl::Seconds(5)).get(),
                            v1::GetServerInfoRequest(), &info);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  }

  auto second = ServerProcess::Start({}, port);
  ASSERT_NE(second, nullptr);
  ASSERT_EQ(second->port(), port);
  // The old channel reconnects (waiting out its reconnect backoff).
  {
    auto context = ContextWithTimeout(absl::Seconds(20));
    context->set_wait_for_ready(true);
    v1::GetServerInfoResponse info;
    grpc::Status status =
        stub->GetServerInfo(context.get(), v1::GetServerInfoRequest(), &info);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(info.session_count(), 0);
  }
  for (bool retain : {true, false}) {
    grpc::Status status = BackwardOnRamp(*stub, id, 0, retain);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(status.error_message(), HasSubstr("unknown session_id"));
    EXPECT_THAT(status.error_message(), HasSubstr("do not survive a restart"));
  }
  v1::ReleaseSessionRequest release;
  release.set_session_id(id);
  v1::ReleaseSessionResponse released;
  grpc::Status status =
      stub->ReleaseSession(ContextWithTimeout().get(), release, &released);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("do not survive a restart"));
  // New sessions work as before.
  const std::string fresh = SaveRampTopK(*stub, 3);
  EXPECT_NE(fresh, id);
  EXPECT_TRUE(BackwardOnRamp(*stub, fresh, 3, /*retain=*/false).ok());
}

}  // namespace
}  // namespace tensorops::server::testing

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind(tensorops::server::testing::kHangingClientFlag, 0) == 0) {
      return tensorops::server::testing::RunHangingClient(arg.substr(
          std::string(tensorops::server::testing::kHangingClientFlag).size()));
    }
  }
  ::testing::InitGoogleMock(&argc, argv);
  return RUN_ALL_TESTS();
}
