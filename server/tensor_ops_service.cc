#include "server/tensor_ops_service.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/cancellation.h"
#include "core/op_plans.h"
#include "core/status_macros.h"
#include "proto/lifted_field.h"
#include "proto/outgoing_message.h"
#include "proto/service_methods.h"
#include "request/backward_request.h"
#include "request/session_request.h"
#include "request/shared_memory_request.h"
#include "server/status_mapping.h"

namespace tensorops::server {
namespace {

namespace v1 = ::tensorops::v1;

}  // namespace

struct TensorOpsService::MethodEntry {
  absl::string_view name;                  // as in the .proto's service block
  Handler handler = nullptr;               // unary methods
  StreamHandler stream_handler = nullptr;  // streamed ones
};

// One entry per RPC; a method of the descriptor missing here answers
// UNIMPLEMENTED.
const TensorOpsService::MethodEntry TensorOpsService::kMethodTable[] = {
    {"ZerosLike", &TensorOpsService::ServeZerosLike},
    {"OnesLike", &TensorOpsService::ServeOnesLike},
    {"TopK", &TensorOpsService::ServeTopK},
    {"Sort",
     &TensorOpsService::ServeSelection<v1::SortRequest, v1::SortResponse>},
    {"KthValue", &TensorOpsService::ServeSelection<v1::KthValueRequest,
                                                   v1::KthValueResponse>},
    {"Max", &TensorOpsService::ServeSelection<v1::MaxRequest, v1::MaxResponse>},
    {"Min", &TensorOpsService::ServeSelection<v1::MinRequest, v1::MinResponse>},
    {"Median",
     &TensorOpsService::ServeSelection<v1::MedianRequest, v1::MedianResponse>},
    {"Backward", &TensorOpsService::ServeBackward},
    {"ReleaseSession", &TensorOpsService::ServeReleaseSession},
    {"RegisterSharedMemory", &TensorOpsService::ServeRegisterSharedMemory},
    {"UnregisterSharedMemory", &TensorOpsService::ServeUnregisterSharedMemory},
    {"ListSharedMemory", &TensorOpsService::ServeListSharedMemory},
    {"GetServerInfo", &TensorOpsService::ServeGetServerInfo},
    {.name = "TopKStream",
     .stream_handler = &TensorOpsService::ServeTopKStream},
    {.name = "BackwardStream",
     .stream_handler = &TensorOpsService::ServeBackwardStream},
    {.name = "ZerosLikeStream",
     .stream_handler = &TensorOpsService::ServeZerosLikeStream},
    {.name = "OnesLikeStream",
     .stream_handler = &TensorOpsService::ServeOnesLikeStream},
    {.name = "HoldSharedMemory",
     .stream_handler = &TensorOpsService::ServeHoldSharedMemory},
};

TensorOpsService::TensorOpsService(Backend& backend, SessionCache& sessions,
                                   SharedMemoryRegistry& shared_memory,
                                   Executor& executor, Metrics* metrics,
                                   TensorOpsServiceOptions options)
    : backend_(backend),
      sessions_(sessions),
      shared_memory_(shared_memory),
      executor_(executor),
      metrics_(metrics),
      options_(std::move(options)) {
  if (options_.response_write_timeout > absl::ZeroDuration()) {
    watchdog_ = std::make_unique<WriteWatchdog>(
        options_.response_write_timeout, [metrics] {
          if (metrics != nullptr) metrics->ResponseWriteTimedOut();
        });
  }
  ledger_.max_response_bytes = options_.max_inflight_response_bytes;
  ledger_.metrics = metrics_;
  ledger_.watchdog = watchdog_.get();
  ledger_.log_requests = options_.log_requests;
  // The generated base class has registered every method of the descriptor
  // with a synchronous handler; each gets its raw callback from the table.
  for (int method = 0; method < wire::MethodCount(); ++method) {
    const MethodEntry* found = nullptr;
    for (const MethodEntry& entry : kMethodTable) {
      if (entry.name == wire::MethodName(method)) found = &entry;
    }
    if (wire::TensorOpsServiceDescriptor().method(method)->client_streaming()) {
      StreamHandler handler = found != nullptr && found->stream_handler
                                  ? found->stream_handler
                                  : &TensorOpsService::ServeUnimplementedStream;
      MarkMethodRawCallback(
          method,
          new grpc::internal::CallbackBidiHandler<grpc::ByteBuffer,
                                                  grpc::ByteBuffer>(
              [this, method, handler](grpc::CallbackServerContext* context) {
                return (this->*handler)(context, method);
              }));
      continue;
    }
    Handler handler = found != nullptr && found->handler
                          ? found->handler
                          : &TensorOpsService::ServeUnimplemented;
    MarkMethodRawCallback(
        method,
        new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer,
                                                 grpc::ByteBuffer>(
            [this, method, handler](grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) {
              return (this->*handler)(context, method, *request, response);
            }));
  }
}

bool TensorOpsService::IsLocalPeer(absl::string_view peer) {
  return absl::StartsWith(peer, "unix:") ||
         absl::StartsWith(peer, "ipv4:127.") ||
         absl::StartsWith(peer, "ipv6:[::1]") ||
         absl::StartsWith(peer, "ipv6:%5B::1%5D") ||
         absl::StartsWith(peer, "ipv6:[::ffff:127.");
}

absl::Status TensorOpsService::CheckLocalPeer(absl::string_view peer) {
  if (IsLocalPeer(peer)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "shared memory is for callers on the server's host (a unix socket or a "
      "loopback address); this call came from ",
      peer, ": send tensors inline"));
}

absl::Status TensorOpsService::DrainingError() {
  return absl::UnavailableError(
      "the server is shutting down and accepts no new calls; retry (on "
      "another replica, or once it is back)");
}

bool TensorOpsService::Serves(absl::string_view method) {
  for (const MethodEntry& entry : kMethodTable) {
    if (entry.name == method) return true;
  }
  return false;
}

grpc::ServerUnaryReactor* TensorOpsService::Dispatch(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& wire, grpc::ByteBuffer* response_wire,
    std::unique_ptr<google::protobuf::Message> request,
    std::unique_ptr<google::protobuf::Message> response,
    absl::Span<const wire::FieldPath> lift_paths, Prepare prepare) {
  auto* call = new InflightCall(
      ledger_, context, method, static_cast<int64_t>(wire.Length()),
      response_wire, std::move(request), std::move(response));
  const auto refuse = [call](absl::Status status) {
    call->Complete(status);
    return call;
  };
  if (draining_.load(std::memory_order_acquire)) {
    return refuse(DrainingError());
  }
  // gRPC hands over an empty buffer when the request never fully arrived:
  // the client cancelled or reset the stream during its upload.
  if (!wire.Valid()) {
    if (context->IsCancelled()) {
      return refuse(absl::CancelledError(
          "the call was cancelled before its request had arrived"));
    }
    return refuse(absl::InvalidArgumentError(absl::StrCat(
        "the call carried no request message; expected one serialized ",
        call->request()->GetDescriptor()->full_name())));
  }
  absl::StatusOr<std::string> caller =
      IdentifyCaller(*context, options_.callers);
  if (!caller.ok()) return refuse(caller.status());
  // Any call keeps the caller's regions from the idle reaper.
  shared_memory_.Touch(*caller);
  call->set_caller(*caller);
  if (call->calls_at_arrival() > options_.max_inflight_requests) {
    return refuse(absl::ResourceExhaustedError(absl::StrCat(
        "the server is already serving ", options_.max_inflight_requests,
        " calls, its limit (--max_inflight_requests); retry with backoff")));
  }
  // gRPC itself accepts any size (it would buffer the whole message before
  // refusing it anyway), so that refusals are answered, and counted, here.
  if (absl::Status size = request::CheckRequestSize(
          options_.limits, static_cast<int64_t>(wire.Length()));
      !size.ok()) {
    return refuse(size);
  }
  // Parsed only now: unauthenticated and over-limit calls cost no parsing.
  if (absl::Status parsed = ParseRequest(wire, lift_paths, kLiftMinBytes,
                                         call->request(), &call->payload());
      !parsed.ok()) {
    return refuse(parsed);
  }
  absl::StatusOr<Work> work = prepare(*caller, *call);
  if (!work.ok()) return refuse(work.status());
  if (absl::Status reserved = call->ReserveResponseBytes(work->response_bytes);
      !reserved.ok()) {
    return refuse(reserved);
  }
  if (!work->blocking && work->bytes <= options_.inline_work_bytes) {
    call->Complete(std::move(work->run)());
    return call;
  }
  // The request and response stay alive until OnDone, so the work may keep
  // reading the request's bytes in place.
  executor_.Submit([this, call, context, run = std::move(work->run)]() mutable {
    // OnCancel may have run before gRPC marks the context cancelled.
    if (call->cancellation().cancelled() || context->IsCancelled()) {
      if (metrics_ != nullptr) metrics_->ComputationAbandoned(false);
      call->Complete(absl::CancelledError(
          "the call was cancelled before its computation started"));
      return;
    }
    absl::Status status;
    {
      CancellationScope scope(&call->cancellation());
      status = std::move(run)();
    }
    if (status.code() == absl::StatusCode::kCancelled &&
        call->cancellation().cancelled() && metrics_ != nullptr) {
      metrics_->ComputationAbandoned(true);
    }
    call->Complete(status);
  });
  return call;
}

template <typename Request, typename Response, typename PrepareTyped>
grpc::ServerUnaryReactor* TensorOpsService::Serve(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& wire, grpc::ByteBuffer* response_wire,
    absl::Span<const wire::FieldPath> lift_paths, PrepareTyped prepare) {
  auto request = std::make_unique<Request>();
  auto response = std::make_unique<Response>();
  const Request* typed_request = request.get();
  Response* typed_response = response.get();
  return Dispatch(context, method, wire, response_wire, std::move(request),
                  std::move(response), lift_paths,
                  [&](const std::string& caller, InflightCall& call) {
                    return prepare(*typed_request, call.payload(), caller,
                                   typed_response, call);
                  });
}

template <typename Request, typename Response>
absl::StatusOr<TensorOpsService::Work> TensorOpsService::PrepareFill(
    const Request& message, const ReceivedPayload& payload,
    const std::string& caller, Response* response, InflightCall& call) {
  auto holds = std::make_shared<RegionHolds>(shared_memory_, caller);
  // An unset input reads as one without shared_memory: the lifted bytes.
  TENSOROPS_ASSIGN_OR_RETURN(
      const std::optional<ChunkedBytes> input_bytes,
      holds->Input(message.input(), payload.Lifted(kInputPayload), "input"));
  absl::StatusOr<request::FillPlan> plan;
  if constexpr (std::is_same_v<Request, v1::OnesLikeRequest>) {
    plan = request::PlanOnesLike(message, input_bytes, options_.limits);
  } else {
    plan = request::PlanZerosLike(message, input_bytes, options_.limits);
  }
  if (!plan.ok()) return plan.status();
  const bool to_region = message.has_output_shared_memory();
  return FillWork(
      *std::move(plan), to_region ? &message.output_shared_memory() : nullptr,
      to_region ? response->mutable_output() : nullptr, std::move(holds), call);
}

grpc::ServerUnaryReactor* TensorOpsService::ServeZerosLike(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::ZerosLikeRequest, v1::ZerosLikeResponse>(
      context, method, request, response, kInputPayloadPaths,
      [&](const v1::ZerosLikeRequest& message, const ReceivedPayload& payload,
          const std::string& caller, v1::ZerosLikeResponse* out,
          InflightCall& call) {
        return PrepareFill(message, payload, caller, out, call);
      });
}

grpc::ServerUnaryReactor* TensorOpsService::ServeOnesLike(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::OnesLikeRequest, v1::OnesLikeResponse>(
      context, method, request, response, kInputPayloadPaths,
      [&](const v1::OnesLikeRequest& message, const ReceivedPayload& payload,
          const std::string& caller, v1::OnesLikeResponse* out,
          InflightCall& call) {
        return PrepareFill(message, payload, caller, out, call);
      });
}

grpc::ServerUnaryReactor* TensorOpsService::ServeTopK(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::TopKRequest, v1::TopKResponse>(
      context, method, request, response, kInputPayloadPaths,
      [&](const v1::TopKRequest& message, const ReceivedPayload& payload,
          const std::string& caller, v1::TopKResponse* out,
          InflightCall& call) -> absl::StatusOr<Work> {
        auto holds = std::make_shared<RegionHolds>(shared_memory_, caller);
        TENSOROPS_ASSIGN_OR_RETURN(
            const std::optional<ChunkedBytes> input_bytes,
            holds->Input(message.input(), payload.Lifted(kInputPayload),
                         "input"));
        TENSOROPS_ASSIGN_OR_RETURN(
            request::TopKRequestPlan plan,
            request::PlanTopKRequest(message, input_bytes, options_.limits));
        return TopKWork(std::move(plan), message, caller, out, std::move(holds),
                        call);
      });
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* TensorOpsService::ServeSelection(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<Request, Response>(
      context, method, request, response, kInputPayloadPaths,
      [&](const Request& message, const ReceivedPayload& payload,
          const std::string& caller, Response* out,
          InflightCall& call) -> absl::StatusOr<Work> {
        auto holds = std::make_shared<RegionHolds>(shared_memory_, caller);
        TENSOROPS_ASSIGN_OR_RETURN(
            const std::optional<ChunkedBytes> input_bytes,
            holds->Input(message.input(), payload.Lifted(kInputPayload),
                         "input"));
        TENSOROPS_ASSIGN_OR_RETURN(
            request::SelectionRequestPlan plan,
            request::PlanSelectionRequest(request::FieldsOf(message),
                                          input_bytes, options_.limits));
        return SelectionFamilyWork(
            std::move(plan),
            SelectionResponseFields{
                .values = [out] { return out->mutable_values(); },
                .indices = [out] { return out->mutable_indices(); },
                .session_id = out->mutable_session_id()},
            caller, std::move(holds), call);
      });
}

grpc::ServerUnaryReactor* TensorOpsService::ServeBackward(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::BackwardRequest, v1::BackwardResponse>(
      context, method, request, response, kBackwardPayloadPaths,
      [&](const v1::BackwardRequest& message, const ReceivedPayload& payload,
          const std::string& caller, v1::BackwardResponse* out,
          InflightCall& call) {
        return BackwardWork(message, payload, caller, out, call);
      });
}

grpc::ServerUnaryReactor* TensorOpsService::ServeReleaseSession(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::ReleaseSessionRequest, v1::ReleaseSessionResponse>(
      context, method, request, response, /*lift_paths=*/{},
      [&](const v1::ReleaseSessionRequest& message, const ReceivedPayload&,
          const std::string& caller, v1::ReleaseSessionResponse*,
          InflightCall&) -> absl::StatusOr<Work> {
        TENSOROPS_RETURN_IF_ERROR(request::ValidateReleaseSession(message));
        return Work{.bytes = 0, .run = [this, &message, caller] {
                      return sessions_.Release(message.session_id(), caller);
                    }};
      });
}

grpc::ServerUnaryReactor* TensorOpsService::ServeRegisterSharedMemory(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::RegisterSharedMemoryRequest,
               v1::RegisterSharedMemoryResponse>(
      context, method, request, response, /*lift_paths=*/{},
      [&](const v1::RegisterSharedMemoryRequest& message,
          const ReceivedPayload&, const std::string& caller,
          v1::RegisterSharedMemoryResponse*,
          InflightCall&) -> absl::StatusOr<Work> {
        TENSOROPS_RETURN_IF_ERROR(
            request::ValidateRegisterSharedMemory(message));
        TENSOROPS_RETURN_IF_ERROR(CheckLocalPeer(context->peer()));
        return Work{.blocking = true,  // opens and maps the object
                    .run = [this, &message, caller] {
                      return shared_memory_.Register(caller, message);
                    }};
      });
}

grpc::ServerUnaryReactor* TensorOpsService::ServeUnregisterSharedMemory(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::UnregisterSharedMemoryRequest,
               v1::UnregisterSharedMemoryResponse>(
      context, method, request, response, /*lift_paths=*/{},
      [&](const v1::UnregisterSharedMemoryRequest& message,
          const ReceivedPayload&, const std::string& caller,
          v1::UnregisterSharedMemoryResponse*,
          InflightCall&) -> absl::StatusOr<Work> {
        TENSOROPS_RETURN_IF_ERROR(
            request::ValidateUnregisterSharedMemory(message));
        return Work{.blocking = true,  // may unmap
                    .run = [this, &message, caller] {
                      return shared_memory_.Unregister(caller, message.name());
                    }};
      });
}

grpc::ServerUnaryReactor* TensorOpsService::ServeListSharedMemory(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::ListSharedMemoryRequest, v1::ListSharedMemoryResponse>(
      context, method, request, response, /*lift_paths=*/{},
      [&](const v1::ListSharedMemoryRequest&, const ReceivedPayload&,
          const std::string& caller, v1::ListSharedMemoryResponse* out,
          InflightCall&) -> absl::StatusOr<Work> {
        TENSOROPS_ASSIGN_OR_RETURN(std::vector<v1::SharedMemoryRegion> regions,
                                   shared_memory_.List(caller));
        return Work{.run = [out, regions = std::move(regions)]() mutable {
          for (v1::SharedMemoryRegion& region : regions) {
            *out->add_regions() = std::move(region);
          }
          return absl::OkStatus();
        }};
      });
}

grpc::ServerUnaryReactor* TensorOpsService::ServeUnimplemented(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& /*request*/, grpc::ByteBuffer* response) {
  auto* call =
      new InflightCall(ledger_, context, method, 0, response, nullptr, nullptr);
  call->Complete(absl::UnimplementedError(
      absl::StrCat(wire::MethodName(method), " is not served by this server")));
  return call;
}

grpc::ServerUnaryReactor* TensorOpsService::ServeGetServerInfo(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::GetServerInfoRequest, v1::GetServerInfoResponse>(
      context, method, request, response, /*lift_paths=*/{},
      [&](const v1::GetServerInfoRequest&, const ReceivedPayload&,
          const std::string& caller, v1::GetServerInfoResponse* response,
          InflightCall&) -> absl::StatusOr<Work> {
        return Work{
            .bytes = 0, .run = [this, response, caller] {
              response->set_version(options_.version);
              response->set_backend(std::string(backend_.name()));
              response->set_compute_threads(options_.compute_threads);
              response->set_max_message_bytes(
                  options_.limits.max_message_bytes);
              response->set_session_ttl_ms(
                  absl::ToInt64Milliseconds(sessions_.options().ttl));
              response->set_session_cache_bytes(sessions_.options().max_bytes);
              const SessionCacheStats stats = sessions_.stats();
              response->set_session_count(stats.entries);
              response->set_session_bytes(stats.bytes);
              response->set_max_tensor_elements(
                  options_.limits.max_tensor_elements);
              response->set_max_inflight_requests(
                  options_.max_inflight_requests);
              response->set_max_sessions_per_caller(
                  sessions_.options().max_sessions_per_owner);
              response->set_caller_session_count(sessions_.SessionsOf(caller));
              response->set_caller_session_bytes(sessions_.BytesOf(caller));
              response->set_session_bytes_per_caller(
                  sessions_.options().max_bytes_per_owner);
              response->set_max_inflight_response_bytes(
                  options_.max_inflight_response_bytes);
              response->set_response_write_timeout_ms(
                  absl::ToInt64Milliseconds(options_.response_write_timeout));
              const SharedMemoryOptions& shm = shared_memory_.options();
              response->set_shared_memory_allowed(shm.allowed);
              response->set_max_shared_memory_regions_per_caller(
                  shm.max_regions_per_owner);
              response->set_max_shared_memory_bytes_per_caller(
                  shm.max_bytes_per_owner);
              response->set_shared_memory_idle_timeout_ms(
                  absl::ToInt64Milliseconds(shm.idle_timeout));
              response->set_caller_shared_memory_regions(
                  shared_memory_.RegionsOf(caller));
              response->set_caller_shared_memory_bytes(
                  shared_memory_.BytesOf(caller));
              response->set_shared_memory_release_grace_ms(
                  absl::ToInt64Milliseconds(shm.release_grace));
              response->set_caller_shared_memory_holds(
                  shared_memory_.OpenHoldsOf(caller));
              response->set_stream_chunk_bytes(StreamChunkBytes());
              response->set_max_streamed_tensor_elements(
                  options_.limits.max_streamed_tensor_elements);
              response->set_max_stream_buffer_bytes(
                  options_.limits.max_stream_buffer_bytes);
              return absl::OkStatus();
            }};
      });
}

}  // namespace tensorops::server
