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
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/backend.h"
#include "google/protobuf/message.h"
#include "proto/lifted_field.h"
#include "request/fill_request.h"
#include "request/limits.h"
#include "request/saved_selection.h"
#include "request/selection_request.h"
#include "request/topk_request.h"
#include "server/caller_identity.h"
#include "server/executor.h"
#include "server/inflight_call.h"
#include "server/metrics.h"
#include "server/received_request.h"
#include "server/region_holds.h"
#include "server/server_config.h"
#include "server/session_cache.h"
#include "server/shared_memory_registry.h"
#include "server/write_watchdog.h"
#include "tensorops/v1/tensor_ops.grpc.pb.h"

namespace tensorops::server {

struct TensorOpsServiceOptions {
  // Requests over the message limit, and results whose response would
  // exceed it, fail with RESOURCE_EXHAUSTED before anything is computed
  // (gRPC could not send them anyway); so do tensors over the element
  // limit.
  request::RequestLimits limits;
  // Calls whose tensors total at most this many bytes run on the gRPC thread
  // that received them: they take microseconds, less than a hand-off to the
  // executor. Larger calls go to the executor. Negative sends every call
  // to the executor.
  int64_t inline_work_bytes = int64_t{16} << 10;
  // Calls served at once (from arrival until gRPC is done with them); the
  // ones over it fail with RESOURCE_EXHAUSTED.
  int64_t max_inflight_requests = ServerConfig{}.max_inflight_requests;
  // Response bytes held at once by the calls in flight; a call that would
  // pass it fails with RESOURCE_EXHAUSTED before computing.
  int64_t max_inflight_response_bytes =
      ServerConfig{}.max_inflight_response_bytes;
  // A response not taken by its client this long after it was handed to
  // gRPC is cancelled; zero or negative disables the deadline.
  absl::Duration response_write_timeout = ServerConfig{}.response_write_timeout;
  // Authentication and session ownership.
  CallerPolicy callers;
  // A log line for every finished call (--log_requests).
  bool log_requests = ServerConfig{}.log_requests;
  // Reported by GetServerInfo.
  std::string version;
  int compute_threads = 0;
};

// Every method of tensorops.v1.TensorOps is registered from the service's
// descriptor (proto/service_methods.h) with its entry in the method table of
// tensor_ops_service.cc, and takes its request as raw bytes: each RPC is
// refused with UNAVAILABLE once the service is draining, identifies its caller
// (UNAUTHENTICATED without an accepted token when tokens are configured), is
// admitted if fewer than max_inflight_requests are in flight and the request
// is within the message limit, then parses its request and validates it with
// the request layer (request/) on the gRPC thread (a bad request is answered
// at once and allocates nothing sized from it; bytes that do not parse get
// INVALID_ARGUMENT); side effects on sessions come after validation. Its
// response bytes are reserved against max_inflight_response_bytes, then it
// computes, inline if small, else on the executor, whose threads call the
// backend (which runs its own TBB arena), and finishes the call from there. A
// call cancelled by its client or its deadline is not started if still queued
// and its backend computation stops early if running; one whose client does not
// take the response within response_write_timeout is cancelled. Request tensors
// are read in place: a large input's data is not even copied out of the
// received slices (server/received_request.h); each result byte is copied once,
// into the response. Sessions are saved and looked up as the caller's own; a
// session is kept only if its TopK's response was delivered, and consumed
// only by a Backward whose result was (server/inflight_call.h).
//
// Thread-safe; the backend, cache, executor and metrics must outlive it.
class TensorOpsService final : public tensorops::v1::TensorOps::Service {
 public:
  // `metrics` may be null.
  TensorOpsService(Backend& backend, SessionCache& sessions,
                   SharedMemoryRegistry& shared_memory, Executor& executor,
                   Metrics* metrics, TensorOpsServiceOptions options);

  // Whether a call from `peer` (grpc's peer string) comes from this host: a
  // unix socket or a loopback address. Only those may register shared
  // memory.
  static bool IsLocalPeer(absl::string_view peer);
  // PERMISSION_DENIED unless IsLocalPeer(peer), saying why.
  static absl::Status CheckLocalPeer(absl::string_view peer);
  // The UNAVAILABLE answer of a call that arrives while the server drains.
  static absl::Status DrainingError();

  // Whether the method table serves the RPC called `method`; every method
  // of the descriptor must be (a test checks), else it answers
  // UNIMPLEMENTED.
  static bool Serves(absl::string_view method);

  // Lame duck: from now on every new call is answered UNAVAILABLE (the
  // server is shutting down); calls already admitted go on. Thread-safe.
  void StartDraining() { draining_.store(true, std::memory_order_release); }

  // Calls in flight: each counts from its arrival until gRPC is done with it
  // (its response and status are written to the connection, or the call is
  // cancelled).
  int64_t inflight_calls() const {
    return ledger_.calls.load(std::memory_order_acquire);
  }
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  // A validated request: what to run, how many tensor bytes it touches and
  // the most bytes its response can take.
  struct Work {
    int64_t bytes = 0;
    int64_t response_bytes = 0;
    // Work that may block (opening and mapping files) goes to the executor
    // whatever its size, never on a gRPC thread.
    bool blocking = false;
    absl::AnyInvocable<absl::Status() &&> run;
  };

  // Turns a parsed request from `caller` (IdentifyCaller's owner string)
  // into work. Result tensors are attached to call.outgoing() rather than
  // copied into the response message; session effects that depend on the
  // result's delivery go to call.WhenDone().
  using Prepare = absl::FunctionRef<absl::StatusOr<Work>(
      const std::string& caller, InflightCall& call)>;

  // Serves a unary call of another service's method (the Open Inference
  // Protocol's ModelInfer) as this service serves its own: drain, caller,
  // admission and size checks, parsing `wire` into `request`, `prepare`,
  // the response budget, inline or executor. `metered_method` names it in
  // metrics and logs (wire::MeteredMethodName). Calls of both services
  // count together against the limits and in inflight_calls().
  grpc::ServerUnaryReactor* ServeCall(
      grpc::CallbackServerContext* context, int metered_method,
      const grpc::ByteBuffer& wire, grpc::ByteBuffer* response_wire,
      std::unique_ptr<google::protobuf::Message> request,
      std::unique_ptr<google::protobuf::Message> response, Prepare prepare) {
    return Dispatch(context, metered_method, wire, response_wire,
                    std::move(request), std::move(response), {}, prepare);
  }

 private:
  // The bytes fields that large requests have lifted out, and their slots
  // in ReceivedPayload::lifted: the input's data, or Backward's two tensors'.
  static constexpr wire::FieldPath kInputPayloadPaths[] = {
      wire::kInputDataPath};
  static constexpr size_t kInputPayload = 0;
  static constexpr wire::FieldPath kBackwardPayloadPaths[] = {
      wire::kGradValuesDataPath, wire::kIndicesDataPath};
  static constexpr size_t kGradValuesPayload = 0;
  static constexpr size_t kIndicesPayload = 1;

  // Serves one call of `method` (its index in the descriptor): parses
  // `wire` into `request` (lifting the bytes fields at `lift_paths` out of
  // large requests, into call.payload().lifted in that order), prepares the
  // work and runs it, and sends `response` serialized into `response_wire`.
  grpc::ServerUnaryReactor* Dispatch(
      grpc::CallbackServerContext* context, int method,
      const grpc::ByteBuffer& wire, grpc::ByteBuffer* response_wire,
      std::unique_ptr<google::protobuf::Message> request,
      std::unique_ptr<google::protobuf::Message> response,
      absl::Span<const wire::FieldPath> lift_paths, Prepare prepare);

  // Dispatch with typed messages: `prepare(request, payload, caller,
  // response, call)` returns the Work.
  template <typename Request, typename Response, typename PrepareTyped>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context,
                                  int method, const grpc::ByteBuffer& wire,
                                  grpc::ByteBuffer* response_wire,
                                  absl::Span<const wire::FieldPath> lift_paths,
                                  PrepareTyped prepare);

  // One per RPC, in the method table: validate with the request layer,
  // then return the work (with its side effects) for Dispatch to run.
  struct MethodEntry;
  static const MethodEntry kMethodTable[];
  using Handler = grpc::ServerUnaryReactor* (
      TensorOpsService::*)(grpc::CallbackServerContext* context, int method,
                           const grpc::ByteBuffer& wire,
                           grpc::ByteBuffer* response_wire);
  grpc::ServerUnaryReactor* ServeZerosLike(grpc::CallbackServerContext*, int,
                                           const grpc::ByteBuffer&,
                                           grpc::ByteBuffer*);
  grpc::ServerUnaryReactor* ServeOnesLike(grpc::CallbackServerContext*, int,
                                          const grpc::ByteBuffer&,
                                          grpc::ByteBuffer*);
  grpc::ServerUnaryReactor* ServeTopK(grpc::CallbackServerContext*, int,
                                      const grpc::ByteBuffer&,
                                      grpc::ByteBuffer*);
  // Sort, KthValue, Max, Min and Median (request/selection_request.h).
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* ServeSelection(grpc::CallbackServerContext*, int,
                                           const grpc::ByteBuffer&,
                                           grpc::ByteBuffer*);
  grpc::ServerUnaryReactor* ServeBackward(grpc::CallbackServerContext*, int,
                                          const grpc::ByteBuffer&,
                                          grpc::ByteBuffer*);
  grpc::ServerUnaryReactor* ServeReleaseSession(grpc::CallbackServerContext*,
                                                int, const grpc::ByteBuffer&,
                                                grpc::ByteBuffer*);
  grpc::ServerUnaryReactor* ServeRegisterSharedMemory(
      grpc::CallbackServerContext*, int, const grpc::ByteBuffer&,
      grpc::ByteBuffer*);
  grpc::ServerUnaryReactor* ServeUnregisterSharedMemory(
      grpc::CallbackServerContext*, int, const grpc::ByteBuffer&,
      grpc::ByteBuffer*);
  grpc::ServerUnaryReactor* ServeListSharedMemory(grpc::CallbackServerContext*,
                                                  int, const grpc::ByteBuffer&,
                                                  grpc::ByteBuffer*);
  grpc::ServerUnaryReactor* ServeGetServerInfo(grpc::CallbackServerContext*,
                                               int, const grpc::ByteBuffer&,
                                               grpc::ByteBuffer*);
  grpc::ServerUnaryReactor* ServeUnimplemented(grpc::CallbackServerContext*,
                                               int, const grpc::ByteBuffer&,
                                               grpc::ByteBuffer*);

  // Streamed methods (server/streamed_service.cc): each checks the call as
  // Dispatch does, then reads its request and chunks (server/streamed_call.h).
  using StreamHandler =
      grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* (
          TensorOpsService::*)(grpc::CallbackServerContext* context,
                               int method);
  // The reactor of a streamed call of `method`, refused if the service
  // drains, the caller is not accepted or too many calls are in flight;
  // else reading, its operation started by `start` from the request.
  template <typename StreamRequest, typename Request, typename Start>
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ServeStream(
      grpc::CallbackServerContext* context, int method, Start start);
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ServeTopKStream(
      grpc::CallbackServerContext* context, int method);
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
  ServeBackwardStream(grpc::CallbackServerContext* context, int method);
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
  ServeZerosLikeStream(grpc::CallbackServerContext* context, int method);
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
  ServeOnesLikeStream(grpc::CallbackServerContext* context, int method);
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
  ServeUnimplementedStream(grpc::CallbackServerContext* context, int method);
  // HoldSharedMemory (server/shared_memory_hold.h): the same drain, caller
  // and local-peer checks as RegisterSharedMemory; not a call in flight.
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
  ServeHoldSharedMemory(grpc::CallbackServerContext* context, int method);
  // The chunk size streamed calls send: 2 MiB, or less under a smaller
  // message limit.
  int64_t StreamChunkBytes() const;

  // The work of each operation, from its validated plan; `holds` has the
  // regions its inputs came from and takes those its results go to
  // (`output_ref` and the like: set when the request asked for that).
  absl::StatusOr<Work> FillWork(
      request::FillPlan plan, const tensorops::v1::SharedMemoryRef* output_ref,
      tensorops::v1::Tensor* response_output,
      std::shared_ptr<RegionHolds> holds, InflightCall& call);
  // A selection response's fields, of whichever message.
  struct SelectionResponseFields {
    // Called only for a result written to shared memory (the response's
    // field then holds the reference; else the attached tensor fills it).
    absl::AnyInvocable<tensorops::v1::Tensor*()> values;
    absl::AnyInvocable<tensorops::v1::Tensor*()> indices;
    std::string* session_id = nullptr;
  };
  // What SelectionWork delivers where: results of `dtype` and these sizes
  // to the caller's regions (refs set) or attached to the response, and,
  // when `saved` is set, a session of it (its indices are the result's).
  struct SelectionDelivery {
    DType dtype = DType::kFloat32;
    int64_t values_bytes = 0;
    int64_t indices_bytes = 0;
    int64_t work_bytes = 0;
    int64_t response_bytes = 0;
    const tensorops::v1::SharedMemoryRef* values_ref = nullptr;
    const tensorops::v1::SharedMemoryRef* indices_ref = nullptr;
    SelectionResponseFields response;
    std::optional<request::SavedSelection> saved;
  };
  // Computes a selection's values and indices into the given memory.
  using SelectionCompute =
      absl::AnyInvocable<absl::StatusOr<TopKResult>(
                             const TopKOutputMemory& into) &&>;
  // The work of TopK and of the selection family: `compute`, then the
  // delivery (after the session-size check and region lookups).
  absl::StatusOr<Work> SelectionWork(SelectionDelivery delivery,
                                     SelectionCompute compute,
                                     const std::string& caller,
                                     std::shared_ptr<RegionHolds> holds,
                                     InflightCall& call);
  absl::StatusOr<Work> SelectionFamilyWork(request::SelectionRequestPlan plan,
                                           SelectionResponseFields response,
                                           const std::string& caller,
                                           std::shared_ptr<RegionHolds> holds,
                                           InflightCall& call);
  absl::StatusOr<Work> TopKWork(request::TopKRequestPlan plan,
                                const tensorops::v1::TopKRequest& request,
                                const std::string& caller,
                                tensorops::v1::TopKResponse* response,
                                std::shared_ptr<RegionHolds> holds,
                                InflightCall& call);
  // `payload` holds grad_values' and indices' data when lifted
  // (kBackwardPayloadPaths' order).
  absl::StatusOr<Work> BackwardWork(
      const tensorops::v1::BackwardRequest& request,
      const ReceivedPayload& payload, const std::string& caller,
      tensorops::v1::BackwardResponse* response, InflightCall& call);
  // A fill request (ZerosLike or OnesLike) into work.
  template <typename Request, typename Response>
  absl::StatusOr<Work> PrepareFill(const Request& message,
                                   const ReceivedPayload& payload,
                                   const std::string& caller,
                                   Response* response, InflightCall& call);

  Backend& backend_;
  SessionCache& sessions_;
  SharedMemoryRegistry& shared_memory_;
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
