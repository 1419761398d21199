#include "tests/server/server_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace tensorops::server::testing {

ServerConfig TestConfig() {
  ServerConfig config;
  config.address = "127.0.0.1:0";
  config.metrics_address = "";
  config.threads = 2;
  config.shutdown_timeout = absl::Seconds(5);
  // The service tests check CPU results and configuration; the CUDA backend
  // has its own tests (tests/cuda).
  config.backend = BackendChoice::kCpu;
  return config;
}

std::unique_ptr<TestServer> TestServer::Start(const ServerConfig& config,
                                              ServerOverrides overrides) {
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(config, std::move(overrides));
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  auto test_server = std::unique_ptr<TestServer>(new TestServer());
  test_server->server_ = *std::move(server);
  test_server->channel_ = test_server->NewChannel();
  test_server->stub_ = v1::TensorOps::NewStub(test_server->channel_);
  return test_server;
}

std::string TestServer::target() const {
  return absl::StrCat("127.0.0.1:", server_->port());
}

std::shared_ptr<grpc::Channel> NewTestChannel(const std::string& target) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);
  arguments.SetMaxSendMessageSize(-1);
  // A connection of its own rather than one shared with other channels.
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   arguments);
}

std::shared_ptr<grpc::Channel> TestServer::NewChannel() const {
  return NewTestChannel(target());
}

std::optional<double> MetricValue(const std::string& exposition,
                                  const std::string& series) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (!absl::ConsumePrefix(&line, series) ||
        !absl::ConsumePrefix(&line, " ")) {
      continue;
    }
    double value;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return std::nullopt;
}

std::unique_ptr<grpc::ClientContext> ContextWithTimeout(
    absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

RawCall::RawCall(const std::shared_ptr<grpc::Channel>& channel,
                 std::string method, absl::Duration timeout)
    : stub_(channel), deadline_(absl::Now() + timeout) {
  context_.set_deadline(absl::ToChronoTime(deadline_));
  call_ = stub_.PrepareCall(&context_, method, &queue_);
  call_->StartCall(this);
  started_ = Wait();
}

RawCall::~RawCall() {
  context_.TryCancel();
  queue_.Shutdown();
  void* tag;
  bool ok;
  while (queue_.Next(&tag, &ok)) {
  }
}

bool RawCall::Wait() {
  void* tag = nullptr;
  bool ok = false;
  // Generous slack past the call deadline: gRPC completes every operation
  // (unsuccessfully) once the deadline passes.
  const auto status = queue_.AsyncNext(
      &tag, &ok, absl::ToChronoTime(deadline_ + absl::Seconds(5)));
  return status == grpc::CompletionQueue::GOT_EVENT && ok;
}

bool RawCall::Write(absl::string_view message) {
  if (!started_) return false;
  grpc::Slice slice(message.data(), message.size());
  grpc::ByteBuffer buffer(&slice, 1);
  call_->Write(buffer, this);
  return Wait();
}

bool RawCall::WritesDone() {
  if (!started_) return false;
  call_->WritesDone(this);
  return Wait();
}

std::optional<std::string> RawCall::Read() {
  if (!started_) return std::nullopt;
  grpc::ByteBuffer buffer;
  call_->Read(&buffer, this);
  if (!Wait()) return std::nullopt;
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return std::nullopt;
  std::string message;
  for (const grpc::Slice& slice : slices) {
    message.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return message;
}

grpc::Status RawCall::Finish() {
  grpc::Status status;
  if (!started_) context_.TryCancel();
  call_->Finish(&status, this);
  if (!Wait()) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "no status before the test's deadline");
  }
  return status;
}

RawResponse RawUnary(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& method, absl::string_view request) {
  RawCall call(channel, method);
  RawResponse response;
  call.Write(request);
  call.WritesDone();
  std::optional<std::string> message = call.Read();
  response.status = call.Finish();
  if (message.has_value()) response.message = *std::move(message);
  return response;
}

v1::TopKResponse SaveTopK(v1::TensorOps::Stub& stub,
                          const std::vector<float>& values, int64_t k) {
  v1::TopKResponse response;
  grpc::Status status = stub.TopK(ContextWithTimeout().get(),
                                  TopKOf(values, k, /*save=*/true), &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

void ExpectSmallTopKWorks(v1::TensorOps::Stub& stub, absl::Duration timeout) {
  v1::TopKResponse response;
  grpc::Status status = stub.TopK(ContextWithTimeout(timeout).get(),
                                  TopKOf({3, 1, 4, 2}, 2), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(WireValues<float>(response.values()), std::vector<float>({4, 3}));
  EXPECT_EQ(WireValues<int64_t>(response.indices()),
            std::vector<int64_t>({2, 0}));
}

void ExpectOnesLikeWorks(v1::TensorOps::Stub& stub) {
  v1::OnesLikeRequest request;
  *request.mutable_input() = WireTensor<int32_t>(v1::DTYPE_INT32, {2}, {7, 8});
  v1::OnesLikeResponse response;
  grpc::Status status =
      stub.OnesLike(ContextWithTimeout().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(WireValues<int32_t>(response.output()),
            std::vector<int32_t>({1, 1}));
}

void GatedExecutor::Submit(Task task) {
  submitted_.fetch_add(1);
  pool_.Submit([this, task = std::move(task)]() mutable {
    mutex_.LockWhen(absl::Condition(&open_));
    mutex_.Unlock();
    std::move(task)();
  });
}

bool GatedExecutor::WaitForSubmitted(int count, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (submitted_.load() < count) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) ==
      0) {
    const std::string request =
        absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (::send(fd, request.data(), request.size(), 0) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t n;
      while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) {
        response.append(buffer, static_cast<size_t>(n));
      }
    }
  }
  ::close(fd);
  return response;
}

}  // namespace tensorops::server::testing
