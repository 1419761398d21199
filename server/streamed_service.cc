// TensorOpsService's streamed methods (TopKStream and the like): the same
// admission as unary calls (tensor_ops_service.cc's Dispatch), then a
// StreamedCall running the operation of server/streamed_operations.h.
#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/service_methods.h"
#include "server/shared_memory_hold.h"
#include "server/streamed_call.h"
#include "server/streamed_operations.h"
#include "server/tensor_ops_service.h"

namespace tensorops::server {
namespace {

namespace v1 = ::tensorops::v1;

using StreamReactor =
    grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;

}  // namespace

int64_t TensorOpsService::StreamChunkBytes() const {
  // Room for the chunk's tag and length within the message limit.
  return std::min(kStreamChunkBytes, options_.limits.max_message_bytes - 16);
}

template <typename StreamRequest, typename Request, typename Start>
StreamReactor* TensorOpsService::ServeStream(
    grpc::CallbackServerContext* context, int method, Start start) {
  StreamMethod stream_method{
      .method = method,
      .name = wire::MethodName(method),
      .stream_request = &StreamRequest::default_instance(),
      .new_request = []() -> std::unique_ptr<google::protobuf::Message> {
        return std::make_unique<Request>();
      }};
  // Messages of the preferred chunk size are taken whatever the message
  // limit, so that clients need not ask for it first.
  auto* call = new StreamedCall(
      ledger_, executor_, context, std::move(stream_method),
      std::max(options_.limits.max_message_bytes, kStreamChunkBytes + 1024),
      StreamChunkBytes());
  if (draining_.load(std::memory_order_acquire)) {
    call->Refuse(DrainingError());
    return call;
  }
  absl::StatusOr<std::string> caller =
      IdentifyCaller(*context, options_.callers);
  if (!caller.ok()) {
    call->Refuse(caller.status());
    return call;
  }
  shared_memory_.Touch(*caller);
  call->set_caller(*caller);
  if (call->calls_at_arrival() > options_.max_inflight_requests) {
    call->Refuse(absl::ResourceExhaustedError(absl::StrCat(
        "the server is already serving ", options_.max_inflight_requests,
        " calls, its limit (--max_inflight_requests); retry with backoff")));
    return call;
  }
  call->Start([this, caller = *std::move(caller), start](
                  const google::protobuf::Message& request,
                  absl::FunctionRef<absl::Status(int64_t)> reserve) {
    const StreamContext stream_context{.backend = backend_,
                                       .sessions = sessions_,
                                       .limits = options_.limits,
                                       .caller = caller,
                                       .chunk_bytes = StreamChunkBytes(),
                                       .reserve = reserve};
    return start(static_cast<const Request&>(request), stream_context);
  });
  return call;
}

StreamReactor* TensorOpsService::ServeTopKStream(
    grpc::CallbackServerContext* context, int method) {
  return ServeStream<v1::TopKStreamRequest, v1::TopKRequest>(
      context, method, &StartStreamedTopK);
}

StreamReactor* TensorOpsService::ServeBackwardStream(
    grpc::CallbackServerContext* context, int method) {
  return ServeStream<v1::BackwardStreamRequest, v1::BackwardRequest>(
      context, method, &StartStreamedBackward);
}

StreamReactor* TensorOpsService::ServeZerosLikeStream(
    grpc::CallbackServerContext* context, int method) {
  return ServeStream<v1::ZerosLikeStreamRequest, v1::ZerosLikeRequest>(
      context, method, &StartStreamedZerosLike);
}

StreamReactor* TensorOpsService::ServeOnesLikeStream(
    grpc::CallbackServerContext* context, int method) {
  return ServeStream<v1::OnesLikeStreamRequest, v1::OnesLikeRequest>(
      context, method, &StartStreamedOnesLike);
}

StreamReactor* TensorOpsService::ServeHoldSharedMemory(
    grpc::CallbackServerContext* context, int /*method*/) {
  if (draining_.load(std::memory_order_acquire)) {
    return SharedMemoryHold::Refuse(DrainingError());
  }
  absl::StatusOr<std::string> caller =
      IdentifyCaller(*context, options_.callers);
  if (!caller.ok()) return SharedMemoryHold::Refuse(caller.status());
  if (!IsLocalPeer(context->peer())) {
    return SharedMemoryHold::Refuse(absl::PermissionDeniedError(absl::StrCat(
        "shared memory is for callers on the server's host (a unix socket or "
        "a loopback address); this call came from ",
        context->peer())));
  }
  return SharedMemoryHold::Open(shared_memory_, *std::move(caller));
}

StreamReactor* TensorOpsService::ServeUnimplementedStream(
    grpc::CallbackServerContext* context, int method) {
  auto* call = new StreamedCall(
      ledger_, executor_, context,
      StreamMethod{.method = method, .name = wire::MethodName(method)},
      options_.limits.max_message_bytes, StreamChunkBytes());
  call->Refuse(absl::UnimplementedError(
      absl::StrCat(wire::MethodName(method), " is not served by this server")));
  return call;
}

}  // namespace tensorops::server
