// The server around the service: Prometheus metrics over HTTP, health,
// reflection, graceful shutdown with a call in flight, and the
// tensorops-server binary (flags, SIGTERM).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

extern char** environ;

namespace tensorops::server::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Optional;

constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kHealthWatch[] = "/grpc.health.v1.Health/Watch";
constexpr char kReflection[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
// grpc.health.v1.HealthCheckResponse{status: SERVING} and NOT_SERVING.
const std::string kServing("\x08\x01", 2);
const std::string kNotServing("\x08\x02", 2);

// A length-delimited protobuf field: tag, varint length (< 128), bytes.
std::string StringField(int number, const std::string& value) {
  return absl::StrCat(std::string(1, static_cast<char>(number << 3 | 2)),
                      std::string(1, static_cast<char>(value.size())), value);
}

// An async TopK whose completion can be awaited.
struct PendingTopK {
  grpc::ClientContext context;
  v1::TopKRequest request;
  v1::TopKResponse response;
  grpc::Status status;
  absl::Notification done;

  void Start(v1::TensorOps::Stub& stub) {
    request = v1::TopKRequest();
    *request.mutable_input() =
        WireTensor<float>(v1::DTYPE_FLOAT32, {4}, {3.f, 1.f, 4.f, 2.f});
    request.set_k(2);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    stub.async()->TopK(&context, &request, &response, [this](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
  }
};

TEST(ServerLifecycleTest, MetricsAreScrapedOverHttpAndMove) {
  GatedExecutor executor;
  ServerConfig config = TestConfig();
  config.metrics_address = "127.0.0.1:0";
  ServerOverrides overrides;
  overrides.executor = &executor;
  overrides.inline_work_bytes = -1;  // every call through the executor
  auto server = TestServer::Start(config, std::move(overrides));
  ASSERT_NE(server, nullptr);
  const int port = server->server().metrics_port();
  ASSERT_GT(port, 0);

  // A call held in the executor is in flight.
  PendingTopK pending;
  pending.Start(server->stub());
  ASSERT_TRUE(executor.WaitForSubmitted(1));
  const std::string during = HttpGet(port, "/metrics");
  EXPECT_THAT(during, HasSubstr("200 OK"));
  EXPECT_THAT(MetricValue(during, "tensorops_inflight_requests"),
              Optional(1.0));
  executor.Open();
  ASSERT_TRUE(pending.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(pending.status.ok()) << pending.status.error_message();

  v1::ZerosLikeResponse zeros;
  EXPECT_EQ(
      server->stub()
          .ZerosLike(ContextWithTimeout().get(), v1::ZerosLikeRequest(), &zeros)
          .error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  v1::TopKRequest save = pending.request;
  save.set_save_for_backward(true);
  v1::TopKResponse saved;
  ASSERT_TRUE(
      server->stub().TopK(ContextWithTimeout().get(), save, &saved).ok());

  // Metrics are recorded when a call is done on the server, which may be a
  // moment after the client has its answer.
  std::string scraped;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  do {
    scraped = HttpGet(port, "/metrics");
    if (MetricValue(scraped,
                    "tensorops_requests_total{code=\"OK\",method=\"TopK\"}") ==
            2.0 &&
        MetricValue(scraped, "tensorops_inflight_requests") == 0.0) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  } while (absl::Now() < deadline);

  EXPECT_THAT(
      MetricValue(scraped,
                  "tensorops_requests_total{code=\"OK\",method=\"TopK\"}"),
      Optional(2.0));
  EXPECT_THAT(MetricValue(scraped,
                          "tensorops_requests_total{code=\"INVALID_ARGUMENT\","
                          "method=\"ZerosLike\"}"),
              Optional(1.0));
  EXPECT_THAT(MetricValue(scraped, "tensorops_inflight_requests"),
              Optional(0.0));
  EXPECT_THAT(
      MetricValue(scraped,
                  "tensorops_request_duration_seconds_count{method=\"TopK\"}"),
      Optional(2.0));
  const std::optional<double> request_bytes =
      MetricValue(scraped, "tensorops_request_bytes_total{method=\"TopK\"}");
  ASSERT_TRUE(request_bytes.has_value());
  EXPECT_EQ(*request_bytes, static_cast<double>(pending.request.ByteSizeLong() +
                                                save.ByteSizeLong()));
  EXPECT_EQ(
      MetricValue(scraped, "tensorops_response_bytes_total{method=\"TopK\"}"),
      static_cast<double>(pending.response.ByteSizeLong() +
                          saved.ByteSizeLong()));
  EXPECT_THAT(MetricValue(scraped, "tensorops_session_cache_entries"),
              Optional(1.0));
  EXPECT_THAT(
      MetricValue(scraped, "tensorops_session_cache_bytes"),
      Optional(static_cast<double>(server->server().sessions().stats().bytes)));
  EXPECT_THAT(MetricValue(scraped, "tensorops_session_cache_evictions_total"),
              Optional(0.0));
  EXPECT_THAT(MetricValue(scraped, "tensorops_session_cache_expirations_total"),
              Optional(0.0));
}

TEST(ServerLifecycleTest, ASecondServerOnTheSamePortFailsToStart) {
  auto first = TestServer::Start();
  ASSERT_NE(first, nullptr);
  ServerConfig config = TestConfig();
  config.address = first->target();
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Start(config);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(config.address));
}

TEST(ServerLifecycleTest, HealthReportsServing) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  RawResponse overall = RawUnary(server->channel(), kHealthCheck, "");
  ASSERT_TRUE(overall.status.ok()) << overall.status.error_message();
  EXPECT_EQ(overall.message, kServing);

  RawResponse service = RawUnary(server->channel(), kHealthCheck,
                                 StringField(1, "tensorops.v1.TensorOps"));
  ASSERT_TRUE(service.status.ok()) << service.status.error_message();
  EXPECT_EQ(service.message, kServing);

  RawResponse unknown =
      RawUnary(server->channel(), kHealthCheck, StringField(1, "no.Such"));
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::NOT_FOUND);
}

// The services a ServerReflectionResponse lists
// (list_services_response = 6 { repeated service = 1 { name = 1 } }).
std::set<std::string> ListedServices(const std::string& response) {
  std::set<std::string> names;
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromString(response)) return names;
  for (int i = 0; i < fields.field_count(); ++i) {
    if (fields.field(i).number() != 6) continue;
    google::protobuf::UnknownFieldSet list;
    if (!list.ParseFromString(fields.field(i).length_delimited())) continue;
    for (int j = 0; j < list.field_count(); ++j) {
      google::protobuf::UnknownFieldSet service;
      if (list.field(j).number() != 1 ||
          !service.ParseFromString(list.field(j).length_delimited())) {
        continue;
      }
      for (int k = 0; k < service.field_count(); ++k) {
        if (service.field(k).number() == 1) {
          names.insert(service.field(k).length_delimited());
        }
      }
    }
  }
  return names;
}

TEST(ServerLifecycleTest, ReflectionListsAndDescribesTensorOps) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  RawCall call(server->channel(), kReflection);
  // ServerReflectionRequest{list_services: "*"} (field 7).
  ASSERT_TRUE(call.Write(StringField(7, "*")));
  std::optional<std::string> listed = call.Read();
  ASSERT_TRUE(listed.has_value());
  const std::set<std::string> services = ListedServices(*listed);
  EXPECT_THAT(services, Contains("tensorops.v1.TensorOps"));
  EXPECT_THAT(services, Contains("grpc.health.v1.Health"));

  // ServerReflectionRequest{file_containing_symbol (4)}: what grpcurl asks
  // to learn the methods; the answer (file_descriptor_response = 4
  // { repeated bytes file_descriptor_proto = 1 }) must describe TopK.
  ASSERT_TRUE(call.Write(StringField(4, "tensorops.v1.TensorOps")));
  std::optional<std::string> described = call.Read();
  ASSERT_TRUE(described.has_value());
  google::protobuf::UnknownFieldSet fields;
  ASSERT_TRUE(fields.ParseFromString(*described));
  std::set<std::string> methods;
  for (int i = 0; i < fields.field_count(); ++i) {
    if (fields.field(i).number() != 4) continue;
    google::protobuf::UnknownFieldSet files;
    ASSERT_TRUE(files.ParseFromString(fields.field(i).length_delimited()));
    for (int j = 0; j < files.field_count(); ++j) {
      google::protobuf::FileDescriptorProto file;
      ASSERT_TRUE(file.ParseFromString(files.field(j).length_delimited()));
      if (file.package() != "tensorops.v1") continue;
      for (const auto& service : file.service()) {
        for (const auto& method : service.method()) {
          methods.insert(absl::StrCat(service.name(), ".", method.name()));
        }
      }
    }
  }
  EXPECT_THAT(methods, Contains("TensorOps.TopK"));
  EXPECT_THAT(methods, Contains("TensorOps.Backward"));
  EXPECT_THAT(methods, Contains("TensorOps.ReleaseSession"));
  call.WritesDone();
  EXPECT_TRUE(call.Finish().ok());
}

TEST(ServerLifecycleTest, GracefulShutdownFinishesTheCallInFlight) {
  GatedExecutor executor;
  ServerOverrides overrides;
  overrides.executor = &executor;
  overrides.inline_work_bytes = -1;
  auto server = TestServer::Start(TestConfig(), std::move(overrides));
  ASSERT_NE(server, nullptr);

  RawCall watch(server->channel(), kHealthWatch, absl::Seconds(20));
  ASSERT_TRUE(watch.Write(""));
  EXPECT_EQ(watch.Read(), kServing);

  PendingTopK in_flight;
  in_flight.Start(server->stub());
  ASSERT_TRUE(executor.WaitForSubmitted(1));

  const absl::Time shutdown_start = absl::Now();
  absl::Notification shut_down;
  std::thread shutdown([&] {
    server->server().Shutdown(absl::Seconds(10));
    shut_down.Notify();
  });

  // Health turns NOT_SERVING while the call is still held.
  EXPECT_EQ(watch.Read(), kNotServing);
  watch.Cancel();
  EXPECT_FALSE(in_flight.done.HasBeenNotified());
  EXPECT_FALSE(shut_down.HasBeenNotified());

  // New calls are refused.
  auto late_stub = v1::TensorOps::NewStub(server->NewChannel());
  v1::GetServerInfoResponse info;
  grpc::Status late =
      late_stub->GetServerInfo(ContextWithTimeout(absl::Seconds(5)).get(),
                               v1::GetServerInfoRequest(), &info);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::UNAVAILABLE)
      << late.error_message();

  // The call in flight completes normally, then shutdown returns.
  executor.Open();
  ASSERT_TRUE(in_flight.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(in_flight.status.ok()) << in_flight.status.error_message();
  EXPECT_EQ(WireValues<float>(in_flight.response.values()),
            std::vector<float>({4.f, 3.f}));
  shutdown.join();
  EXPECT_LT(absl::Now() - shutdown_start, absl::Seconds(10));
}

// In the lame duck every new call, on a connection old or new, is answered
// UNAVAILABLE by the server itself, saying why. It used to race gRPC's
// shutdown: a call in its first moments was cancelled instead (CANCELLED),
// later ones found the port closed.
TEST(ServerLifecycleTest, CallsInTheLameDuckAreRefusedAsShuttingDown) {
  ServerConfig config = TestConfig();
  config.lame_duck = absl::Seconds(2);
  auto server = TestServer::Start(config);
  ASSERT_NE(server, nullptr);
  v1::GetServerInfoResponse info;
  ASSERT_TRUE(server->stub()
                  .GetServerInfo(ContextWithTimeout().get(),
                                 v1::GetServerInfoRequest(), &info)
                  .ok());
  RawCall watch(server->channel(), kHealthWatch, absl::Seconds(20));
  ASSERT_TRUE(watch.Write(""));
  EXPECT_EQ(watch.Read(), kServing);

  const absl::Time shutdown_start = absl::Now();
  absl::Time shutdown_end;
  std::thread shutdown([&] {
    server->server().Shutdown(absl::Seconds(10));
    shutdown_end = absl::Now();
  });
  EXPECT_EQ(watch.Read(), kNotServing);
  auto late_stub = v1::TensorOps::NewStub(server->NewChannel());
  for (v1::TensorOps::Stub* stub : {&server->stub(), late_stub.get()}) {
    grpc::Status late = stub->GetServerInfo(ContextWithTimeout().get(),
                                            v1::GetServerInfoRequest(), &info);
    EXPECT_EQ(late.error_code(), grpc::StatusCode::UNAVAILABLE)
        << late.error_message();
    EXPECT_THAT(late.error_message(), HasSubstr("shutting down"));
  }
  watch.Cancel();
  shutdown.join();
  // Nothing was in flight: the lame duck lasted its 2 s, then gRPC stopped.
  EXPECT_GE(shutdown_end - shutdown_start, absl::Seconds(2));
  EXPECT_LT(shutdown_end - shutdown_start, absl::Seconds(10));
}

// Runs the tensorops-server binary with `args`, stderr into a pipe.
struct Child {
  pid_t pid = -1;
  int stderr_fd = -1;
};

Child Spawn(const std::vector<std::string>& args) {
  int pipe_fds[2];
  EXPECT_EQ(::pipe(pipe_fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  std::vector<std::string> full = {TENSOROPS_SERVER_BINARY};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : full) argv.push_back(arg.data());
  argv.push_back(nullptr);
  Child child;
  EXPECT_EQ(posix_spawn(&child.pid, TENSOROPS_SERVER_BINARY, &actions, nullptr,
                        argv.data(), environ),
            0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  child.stderr_fd = pipe_fds[0];
  return child;
}

// Reads the child's output until `marker` appears or it ends.
std::string ReadUntil(int fd, absl::string_view marker) {
  std::string output;
  char buffer[1024];
  while (!absl::StrContains(output, marker)) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    output.append(buffer, static_cast<size_t>(n));
  }
  return output;
}

// The child's exit code, or -1 if it has not exited within `timeout`.
int WaitForExit(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

TEST(ServerBinaryTest, HelpDescribesTheFlags) {
  Child child = Spawn({"--help"});
  const std::string output = ReadUntil(child.stderr_fd, "\xff");
  ::close(child.stderr_fd);
  for (const char* flag : {"--address",
                           "--metrics_address",
                           "--max_message_bytes",
                           "--session_ttl",
                           "--session_cache_bytes",
                           "--threads",
                           "--shutdown_timeout",
                           "--tls_cert",
                           "--tls_key",
                           "--tls_client_ca",
                           "--auth_tokens_file",
                           "--max_tensor_elements",
                           "--max_inflight_requests",
                           "--max_sessions_per_caller",
                           "--lame_duck",
                           "--session_bytes_per_caller",
                           "--max_inflight_response_bytes",
                           "--response_write_timeout",
                           "--max_connection_idle",
                           "--max_connection_age",
                           "--max_connection_age_grace"}) {
    EXPECT_THAT(output, HasSubstr(flag));
  }
  EXPECT_THAT(output, HasSubstr("127.0.0.1:50051"));
  // absl exits with 1 after printing --help.
  EXPECT_NE(WaitForExit(child.pid, absl::Seconds(10)), -1);
}

TEST(ServerBinaryTest, RejectsBadFlagValues) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--session_ttl=-5s", "--session_ttl"},
      {"--max_tensor_elements=0", "--max_tensor_elements"},
      {"--max_inflight_requests=-1", "--max_inflight_requests"},
      {"--max_sessions_per_caller=0", "--max_sessions_per_caller"},
      {"--tls_cert=/some/cert.pem", "--tls_key"},
      {"--tls_client_ca=/some/ca.pem", "--tls_client_ca"},
      {"--lame_duck=-1s", "--lame_duck"},
      {"--session_bytes_per_caller=-1", "--session_bytes_per_caller"},
      {"--max_inflight_response_bytes=1024", "--max_inflight_response_bytes"},
      {"--response_write_timeout=0s", "--response_write_timeout"},
      {"--max_connection_idle=0s", "--max_connection_idle"},
      {"--max_connection_age=-1s", "--max_connection_age"},
      {"--max_connection_age_grace=0s", "--max_connection_age_grace"},
  };
  for (const auto& [flag, named] : cases) {
    Child child = Spawn({flag, "--metrics_address="});
    const std::string output = ReadUntil(child.stderr_fd, "\xff");
    ::close(child.stderr_fd);
    EXPECT_THAT(output, HasSubstr(named)) << flag;
    EXPECT_EQ(WaitForExit(child.pid, absl::Seconds(10)), 2) << flag;
  }
}

TEST(ServerBinaryTest, ServesAndExitsCleanlyOnSigterm) {
  Child child =
      Spawn({"--address=127.0.0.1:0", "--metrics_address=", "--threads=1"});
  const std::string started = ReadUntil(child.stderr_fd, "metrics disabled");
  // "serving tensorops.v1.TensorOps on 127.0.0.1:PORT, metrics disabled"
  const size_t at = started.find("on 127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << started;
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      started.substr(at + 13, started.find(',', at) - at - 13), &port))
      << started;

  {
    // A connection of its own, closed before the signal: an idle client
    // process answers the server's shutdown ping only when its gRPC polls
    // again (up to 5 s later), which would only slow this test down.
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto stub = v1::TensorOps::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials(),
        arguments));
    v1::GetServerInfoResponse info;
    grpc::Status status = stub->GetServerInfo(
        ContextWithTimeout().get(), v1::GetServerInfoRequest(), &info);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(info.compute_threads(), 1);
  }

  ASSERT_EQ(::kill(child.pid, SIGTERM), 0);
  EXPECT_EQ(WaitForExit(child.pid, absl::Seconds(15)), 0);
  const std::string rest = ReadUntil(child.stderr_fd, "\xff");
  ::close(child.stderr_fd);
  EXPECT_THAT(rest, HasSubstr("SIGTERM"));
  EXPECT_THAT(rest, HasSubstr("stopped"));
}

}  // namespace
}  // namespace tensorops::server::testing
