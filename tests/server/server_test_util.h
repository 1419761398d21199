// Helpers for the server tests: wire tensors, an in-process server on a
// loopback port, raw calls to services without generated stubs, and an
// executor that holds work until released.
#ifndef TENSOROPS_TESTS_SERVER_SERVER_TEST_UTIL_H_
#define TENSOROPS_TESTS_SERVER_SERVER_TEST_UTIL_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/executor.h"
#include "server/server.h"
#include "server/server_config.h"
#include "tensorops/v1/tensor_ops.grpc.pb.h"

namespace tensorops::server::testing {

namespace v1 = ::tensorops::v1;

// A wire tensor holding `values` (T must have the dtype's size).
template <typename T>
v1::Tensor WireTensor(v1::DType dtype, std::vector<int64_t> shape,
                      const std::vector<T>& values) {
  v1::Tensor tensor;
  tensor.set_dtype(dtype);
  for (int64_t dim : shape) tensor.add_shape(dim);
  tensor.set_data(reinterpret_cast<const char*>(values.data()),
                  values.size() * sizeof(T));
  return tensor;
}

// A wire tensor's elements as T.
template <typename T>
std::vector<T> WireValues(const v1::Tensor& tensor) {
  EXPECT_EQ(tensor.data().size() % sizeof(T), 0u);
  std::vector<T> values(tensor.data().size() / sizeof(T));
  if (!values.empty()) {
    std::memcpy(values.data(), tensor.data().data(), tensor.data().size());
  }
  return values;
}

inline std::vector<int64_t> WireShape(const v1::Tensor& tensor) {
  return {tensor.shape().begin(), tensor.shape().end()};
}

// A valid stateless Backward: grad float32 [2, 2] = {1, 2, 3, 4}, indices
// int64 [2, 2] = {2, 1, 0, 2}, input_shape [2, 3] (dim -1).
inline v1::BackwardRequest ValidStatelessBackward() {
  v1::BackwardRequest request;
  *request.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {2, 2}, {1, 2, 3, 4});
  *request.mutable_indices() =
      WireTensor<int64_t>(v1::DTYPE_INT64, {2, 2}, {2, 1, 0, 2});
  request.add_input_shape(2);
  request.add_input_shape(3);
  return request;
}

// TopK of float32 `values` (shape [n]) with `k`, saved for Backward when
// `save`.
inline v1::TopKRequest TopKOf(const std::vector<float>& values, int64_t k,
                              bool save = false) {
  v1::TopKRequest request;
  *request.mutable_input() = WireTensor(
      v1::DTYPE_FLOAT32, {static_cast<int64_t>(values.size())}, values);
  request.set_k(k);
  request.set_save_for_backward(save);
  return request;
}

// TopK(save_for_backward) of `values` with `k`, expected to succeed.
v1::TopKResponse SaveTopK(v1::TensorOps::Stub& stub,
                          const std::vector<float>& values, int64_t k);

// Expects TopK(k=2) of [3, 1, 4, 2] to answer values [4, 3], indices [2, 0]
// within `timeout`: the server still serves correctly.
void ExpectSmallTopKWorks(v1::TensorOps::Stub& stub,
                          absl::Duration timeout = absl::Seconds(10));

// Expects OnesLike of int32 [7, 8] to answer [1, 1].
void ExpectOnesLikeWorks(v1::TensorOps::Stub& stub);

// A config for tests: a free loopback port, no metrics endpoint, two
// compute threads.
ServerConfig TestConfig();

// A server started in-process with a channel and stub connected to it.
class TestServer {
 public:
  static std::unique_ptr<TestServer> Start(
      const ServerConfig& config = TestConfig(),
      ServerOverrides overrides = ServerOverrides());

  Server& server() { return *server_; }
  v1::TensorOps::Stub& stub() { return *stub_; }
  const std::shared_ptr<grpc::Channel>& channel() { return channel_; }
  std::string target() const;
  // A channel of its own (a fresh connection).
  std::shared_ptr<grpc::Channel> NewChannel() const;

 private:
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TensorOps::Stub> stub_;
};

// A client context whose deadline is `timeout` from now.
std::unique_ptr<grpc::ClientContext> ContextWithTimeout(
    absl::Duration timeout = absl::Seconds(10));

// A call to any method by name, with raw message bytes, for services with no
// generated C++ stubs in Debian (health, reflection). Works for unary and
// streaming methods alike. Every wait is bounded by the deadline.
class RawCall {
 public:
  RawCall(const std::shared_ptr<grpc::Channel>& channel, std::string method,
          absl::Duration timeout = absl::Seconds(10));
  ~RawCall();

  bool Write(absl::string_view message);
  bool WritesDone();
  // The next message, or nullopt at the end of the stream or on error.
  std::optional<std::string> Read();
  grpc::Status Finish();
  void Cancel() { context_.TryCancel(); }

 private:
  bool Wait();

  grpc::GenericStub stub_;
  grpc::ClientContext context_;
  grpc::CompletionQueue queue_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  absl::Time deadline_;
  bool started_ = false;
};

// A unary raw call: sends `request`, returns the response bytes or the
// failed status.
struct RawResponse {
  grpc::Status status;
  std::string message;
};
RawResponse RawUnary(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& method, absl::string_view request);

// An executor that holds every task while closed (it starts closed) and
// runs them on its own threads while open, so tests can keep calls in
// flight.
class GatedExecutor final : public Executor {
 public:
  GatedExecutor() : pool_(2) {}
  ~GatedExecutor() override { Open(); }
  void Submit(Task task) override;
  void Open() {
    absl::MutexLock lock(&mutex_);
    open_ = true;
  }
  // Tasks submitted from now on (and those not yet started) wait again.
  void Close() {
    absl::MutexLock lock(&mutex_);
    open_ = false;
  }
  // Waits until `count` tasks have been submitted; false on timeout.
  bool WaitForSubmitted(int count, absl::Duration timeout = absl::Seconds(10));

 private:
  absl::Mutex mutex_;
  bool open_ ABSL_GUARDED_BY(mutex_) = false;
  std::atomic<int> submitted_{0};
  // Declared last: its destructor runs the held tasks before the gate goes.
  ThreadPoolExecutor pool_;
};

// An HTTP/1.0 GET of `path` from 127.0.0.1:`port`; the whole response
// (headers and body), or "" if the connection fails.
std::string HttpGet(int port, const std::string& path);

// The value of the sample `series` (name and labels, exactly as exported) in
// a Prometheus text exposition; nullopt if absent.
std::optional<double> MetricValue(const std::string& exposition,
                                  const std::string& series);

// A plaintext channel to `target` on a connection of its own, without
// message size limits (the server's own limits apply).
std::shared_ptr<grpc::Channel> NewTestChannel(const std::string& target);

}  // namespace tensorops::server::testing

#endif  // TENSOROPS_TESTS_SERVER_SERVER_TEST_UTIL_H_
