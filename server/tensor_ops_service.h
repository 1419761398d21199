// tensorops.v1.TensorOps on the gRPC callback API.
#ifndef TENSOROPS_SERVER_TENSOR_OPS_SERVICE_H_
#define TENSOROPS_SERVER_TENSOR_OPS_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/backend.h"
#include "google/protobuf/message.h"
#include "server/caller_identity.h"
#include "server/executor.h"
#include "server/inflight_call.h"
#include "server/metrics.h"
#include "server/received_request.h"
#include "server/session_cache.h"
#include "server/write_watchdog.h"
#include "tensorops/v1/tensor_ops.grpc.pb.h"

namespace tensorops::server {

struct TensorOpsServiceOptions {
  // Results whose response would exceed this fail with RESOURCE_EXHAUSTED
  // before anything is computed (gRPC could not send them anyway).
  int64_t max_message_bytes = int64_t{600} << 20;
  // Calls whose tensors total at most this many bytes run on the gRPC thread
  // that received them: they take microseconds, less than a hand-off to the
  // executor. Larger calls go to the executor. Negative sends every call
  // to the executor.
  int64_t inline_work_bytes = int64_t{16} << 10;
  // Elements in any tensor a request carries or asks for.
  int64_t max_tensor_elements = int64_t{1} << 28;
  // Calls served at once (from arrival until gRPC is done with them); the
  // ones over it fail with RESOURCE_EXHAUSTED.
  int64_t max_inflight_requests = 256;
  // Response bytes held at once by the calls in flight; a call that would
  // pass it fails with RESOURCE_EXHAUSTED before computing.
  int64_t max_inflight_response_bytes = int64_t{2} << 30;
  // A response not taken by its client this long after it was handed to
  // gRPC is cancelled; zero or negative disables the deadline.
  absl::Duration response_write_timeout = absl::Seconds(10);
  // Authentication and session ownership.
  CallerPolicy callers;
  // Reported by GetServerInfo.
  std::string version;
  int compute_threads = 0;
};

// Every method takes its request as raw bytes: each RPC is refused with
// UNAVAILABLE once the service is draining, identifies its caller
// (UNAUTHENTICATED without an accepted token when tokens are configured), is
// admitted if fewer than max_inflight_requests are in flight and the request
// is within max_message_bytes, then parses and validates its request on the
// gRPC thread (a bad request is answered at once and allocates nothing sized
// from it; bytes that do not parse get INVALID_ARGUMENT). Its response bytes
// are reserved against max_inflight_response_bytes, then it computes, inline
// if small, else on the executor, whose threads call the backend (which runs
// its own TBB arena), and finishes the call from there. A call cancelled by
// its client or its deadline is not started if still queued and its backend
// computation stops early if running; one whose client does not take the
// response within response_write_timeout is cancelled. Request tensors are
// read in place: a large input's data is not even copied out of the received
// slices (server/received_request.h); each result byte is copied once, into
// the response. Sessions are saved and looked up as the caller's own; a
// session is kept only if its TopK's response was delivered, and consumed
// only by a Backward whose result was (server/inflight_call.h).
//
// Thread-safe; the backend, cache, executor and metrics must outlive it.
class TensorOpsService final
    : public tensorops::v1::TensorOps::WithRawCallbackMethod_ZerosLike<
          tensorops::v1::TensorOps::WithRawCallbackMethod_OnesLike<
              tensorops::v1::TensorOps::WithRawCallbackMethod_TopK<
                  tensorops::v1::TensorOps::WithRawCallbackMethod_Backward<
                      tensorops::v1::TensorOps::
                          WithRawCallbackMethod_ReleaseSession<
                              tensorops::v1::TensorOps::
                                  WithRawCallbackMethod_GetServerInfo<
                                      tensorops::v1::TensorOps::Service>>>>>> {
 public:
  // `metrics` may be null.
  TensorOpsService(Backend& backend, SessionCache& sessions, Executor& executor,
                   Metrics* metrics, TensorOpsServiceOptions options);

  grpc::ServerUnaryReactor* ZerosLike(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* OnesLike(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* TopK(grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Backward(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ReleaseSession(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;

  // Lame duck: from now on every new call is answered UNAVAILABLE (the
  // server is shutting down); calls already admitted go on. Thread-safe.
  void StartDraining() { draining_.store(true, std::memory_order_release); }

  // Calls in flight: each counts from its arrival until gRPC is done with it
  // (its response and status are written to the connection, or the call is
  // cancelled).
  int64_t inflight_calls() const {
    return ledger_.calls.load(std::memory_order_acquire);
  }

 private:
  // A validated request: what to run, how many tensor bytes it touches and
  // the most bytes its response can take.
  struct Work {
    int64_t bytes = 0;
    int64_t response_bytes = 0;
    absl::AnyInvocable<absl::Status() &&> run;
  };

  // Turns a parsed request from `caller` (IdentifyCaller's owner string)
  // into work. Result tensors are attached to call.outgoing() rather than
  // copied into the response message; session effects that depend on the
  // result's delivery go to call.WhenDone().
  using Prepare = absl::FunctionRef<absl::StatusOr<Work>(
      const std::string& caller, InflightCall& call)>;

  // Serves one call of `method`: parses `wire` into `request` (lifting the
  // bytes field at `lift_path` out of large requests), prepares the work and
  // runs it, and sends `response` serialized into `response_wire`.
  grpc::ServerUnaryReactor* Dispatch(
      grpc::CallbackServerContext* context, Method method,
      const grpc::ByteBuffer& wire, grpc::ByteBuffer* response_wire,
      std::unique_ptr<google::protobuf::Message> request,
      std::unique_ptr<google::protobuf::Message> response,
      absl::Span<const int> lift_path, Prepare prepare);

  // Dispatch with typed messages: `prepare(request, payload, caller,
  // response, call)` returns the Work.
  template <typename Request, typename Response, typename PrepareTyped>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context,
                                  Method method, const grpc::ByteBuffer& wire,
                                  grpc::ByteBuffer* response_wire,
                                  absl::Span<const int> lift_path,
                                  PrepareTyped prepare);

  // `lifted_data`: input's data when it was lifted out of the message.
  absl::StatusOr<Work> PrepareFill(
      const tensorops::v1::Tensor* input,
      const std::optional<ChunkedBytes>& lifted_data, int dtype, bool ones,
      InflightCall& call);
  absl::StatusOr<Work> PrepareTopK(
      const tensorops::v1::TopKRequest& request,
      const std::optional<ChunkedBytes>& lifted_data, const std::string& caller,
      tensorops::v1::TopKResponse* response, InflightCall& call);
  absl::StatusOr<Work> PrepareBackward(
      const tensorops::v1::BackwardRequest& request, const std::string& caller,
      InflightCall& call);

  // RESOURCE_EXHAUSTED naming --max_tensor_elements if `shape` (of the
  // tensor `what`) has more elements than allowed.
  absl::Status CheckElementLimit(ShapeView shape, absl::string_view what) const;

  // The most bytes a response carrying `tensors` tensors of `data_bytes`
  // in total (and ranks summing to `total_rank`) can take; RESOURCE_EXHAUSTED
  // if that would exceed the message limit.
  absl::StatusOr<int64_t> ResponseBound(int64_t data_bytes, size_t total_rank,
                                        int tensors) const;

  Backend& backend_;
  SessionCache& sessions_;
  Executor& executor_;
  Metrics* const metrics_;
  const TensorOpsServiceOptions options_;
  // Null without a write deadline. Declared before the ledger that points
  // at it, and after the metrics it reports to.
  std::unique_ptr<WriteWatchdog> watchdog_;
  CallLedger ledger_;
  std::atomic<bool> draining_{false};
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_TENSOR_OPS_SERVICE_H_
