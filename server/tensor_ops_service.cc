#include "server/tensor_ops_service.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <utility>

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
#include "server/status_mapping.h"

namespace tensorops::server {
namespace {

namespace v1 = ::tensorops::v1;

// FillWork attaches its result as the output of either response.
static_assert(static_cast<int>(v1::ZerosLikeResponse::kOutputFieldNumber) ==
              static_cast<int>(v1::OnesLikeResponse::kOutputFieldNumber));
constexpr int kFillOutputField = v1::ZerosLikeResponse::kOutputFieldNumber;

}  // namespace

struct TensorOpsService::MethodEntry {
  absl::string_view name;  // as in the .proto's service block
  Handler handler;
};

// One entry per RPC; a method of the descriptor missing here answers
// UNIMPLEMENTED.
const TensorOpsService::MethodEntry TensorOpsService::kMethodTable[] = {
    {"ZerosLike", &TensorOpsService::ServeZerosLike},
    {"OnesLike", &TensorOpsService::ServeOnesLike},
    {"TopK", &TensorOpsService::ServeTopK},
    {"Backward", &TensorOpsService::ServeBackward},
    {"ReleaseSession", &TensorOpsService::ServeReleaseSession},
    {"GetServerInfo", &TensorOpsService::ServeGetServerInfo},
};

TensorOpsService::TensorOpsService(Backend& backend, SessionCache& sessions,
                                   Executor& executor, Metrics* metrics,
                                   TensorOpsServiceOptions options)
    : backend_(backend),
      sessions_(sessions),
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
  // The generated base class has registered every method of the descriptor
  // with a synchronous handler; each gets its raw callback from the table.
  for (int method = 0; method < wire::MethodCount(); ++method) {
    Handler handler = &TensorOpsService::ServeUnimplemented;
    for (const MethodEntry& entry : kMethodTable) {
      if (entry.name == wire::MethodName(method)) handler = entry.handler;
    }
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
    absl::Span<const int> lift_path, Prepare prepare) {
  auto* call = new InflightCall(
      ledger_, context, method, static_cast<int64_t>(wire.Length()),
      response_wire, std::move(request), std::move(response));
  const auto refuse = [call](absl::Status status) {
    call->Complete(status);
    return call;
  };
  if (draining_.load(std::memory_order_acquire)) {
    return refuse(absl::UnavailableError(
        "the server is shutting down and accepts no new calls; retry (on "
        "another replica, or once it is back)"));
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
  if (absl::Status parsed = ParseRequest(wire, lift_path, kLiftMinBytes,
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
  if (work->bytes <= options_.inline_work_bytes) {
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
    absl::Span<const int> lift_path, PrepareTyped prepare) {
  auto request = std::make_unique<Request>();
  auto response = std::make_unique<Response>();
  const Request* typed_request = request.get();
  Response* typed_response = response.get();
  return Dispatch(context, method, wire, response_wire, std::move(request),
                  std::move(response), lift_path,
                  [&](const std::string& caller, InflightCall& call) {
                    return prepare(*typed_request, call.payload(), caller,
                                   typed_response, call);
                  });
}

TensorOpsService::Work TensorOpsService::FillWork(request::FillPlan plan,
                                                  InflightCall& call) {
  const int64_t bytes = plan.output_bytes;
  const int64_t response_bytes = plan.response_bytes;
  return Work{
      .bytes = bytes,
      .response_bytes = response_bytes,
      .run = [this, plan = std::move(plan), &call]() -> absl::Status {
        TENSOROPS_ASSIGN_OR_RETURN(
            Tensor result, plan.ones ? backend_.Ones(plan.dtype, plan.shape)
                                     : backend_.Zeros(plan.dtype, plan.shape));
        call.outgoing().AttachTensor(kFillOutputField, std::move(result));
        return absl::OkStatus();
      }};
}

absl::StatusOr<TensorOpsService::Work> TensorOpsService::TopKWork(
    request::TopKRequestPlan plan, const std::string& caller,
    v1::TopKResponse* response, InflightCall& call) {
  if (plan.save_for_backward) {
    TENSOROPS_RETURN_IF_ERROR(
        sessions_.CheckFits(SessionCache::SessionFootprintBytes(
            plan.indices_bytes, plan.input.shape().size())));
  }
  const int64_t bytes = plan.work_bytes();
  const int64_t response_bytes = plan.response_bytes;
  return Work{
      .bytes = bytes,
      .response_bytes = response_bytes,
      .run = [this, plan = std::move(plan), caller, response,
              &call]() -> absl::Status {
        TENSOROPS_ASSIGN_OR_RETURN(
            TopKResult result, backend_.TopKOfChunks(plan.input, plan.options));
        if (plan.save_for_backward) {
          // The saved indices share the core's buffer with `result`; the
          // response gets its own copy below.
          TENSOROPS_ASSIGN_OR_RETURN(
              std::string session_id,
              sessions_.Save(
                  request::SavedSelection{.indices = result.indices,
                                          .input_shape = plan.input.shape(),
                                          .dim = plan.wrapped_dim,
                                          .op = request::SelectionOp::kTopK},
                  caller));
          // Nobody can use a session whose id was never delivered.
          call.WhenDone([this, session_id, caller](bool delivered) {
            if (!delivered) sessions_.Release(session_id, caller).IgnoreError();
          });
          response->set_session_id(std::move(session_id));
        }
        call.outgoing().AttachTensor(v1::TopKResponse::kValuesFieldNumber,
                                     std::move(result.values));
        call.outgoing().AttachTensor(v1::TopKResponse::kIndicesFieldNumber,
                                     std::move(result.indices));
        return absl::OkStatus();
      }};
}

absl::StatusOr<TensorOpsService::Work> TensorOpsService::BackwardWork(
    const v1::BackwardRequest& message, const std::string& caller,
    InflightCall& call) {
  TENSOROPS_ASSIGN_OR_RETURN(
      request::BackwardInputs inputs,
      request::DecodeBackwardRequest(message, options_.limits));
  // The session's state, looked up (not yet claimed) between the checks.
  std::shared_ptr<const request::SavedSelection> saved;
  if (inputs.uses_session) {
    TENSOROPS_ASSIGN_OR_RETURN(saved,
                               sessions_.Get(message.session_id(), caller));
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      request::BackwardRequestPlan plan,
      request::PlanBackwardRequest(std::move(inputs), saved.get(),
                                   options_.limits));
  // Claim the session only once the request is known to be good; of
  // several concurrent Backward calls on one session exactly one gets it,
  // and it is consumed only if that call's result is delivered.
  if (saved != nullptr && !message.retain_session()) {
    TENSOROPS_ASSIGN_OR_RETURN(
        SessionCache::Claim claim,
        sessions_.ClaimSession(message.session_id(), caller));
    call.WhenDone([claim = std::move(claim)](bool delivered) mutable {
      claim.Finish(/*consumed=*/delivered);
    });
  }
  const int64_t bytes = plan.work_bytes();
  const int64_t response_bytes = plan.response_bytes;
  return Work{.bytes = bytes,
              .response_bytes = response_bytes,
              .run = [this, plan = std::move(plan), saved = std::move(saved),
                      &call]() -> absl::Status {
                TENSOROPS_ASSIGN_OR_RETURN(
                    Tensor grad_input,
                    backend_.TopKBackward(plan.grad, plan.indices,
                                          plan.input_shape, plan.dim));
                call.outgoing().AttachTensor(
                    v1::BackwardResponse::kGradInputFieldNumber,
                    std::move(grad_input));
                return absl::OkStatus();
              }};
}

grpc::ServerUnaryReactor* TensorOpsService::ServeZerosLike(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::ZerosLikeRequest, v1::ZerosLikeResponse>(
      context, method, request, response, wire::kInputDataPath,
      [&](const v1::ZerosLikeRequest& message, const ReceivedPayload& payload,
          const std::string&, v1::ZerosLikeResponse*,
          InflightCall& call) -> absl::StatusOr<Work> {
        TENSOROPS_ASSIGN_OR_RETURN(
            request::FillPlan plan,
            request::PlanZerosLike(message, payload.lifted, options_.limits));
        return FillWork(std::move(plan), call);
      });
}

grpc::ServerUnaryReactor* TensorOpsService::ServeOnesLike(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::OnesLikeRequest, v1::OnesLikeResponse>(
      context, method, request, response, wire::kInputDataPath,
      [&](const v1::OnesLikeRequest& message, const ReceivedPayload& payload,
          const std::string&, v1::OnesLikeResponse*,
          InflightCall& call) -> absl::StatusOr<Work> {
        TENSOROPS_ASSIGN_OR_RETURN(
            request::FillPlan plan,
            request::PlanOnesLike(message, payload.lifted, options_.limits));
        return FillWork(std::move(plan), call);
      });
}

grpc::ServerUnaryReactor* TensorOpsService::ServeTopK(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::TopKRequest, v1::TopKResponse>(
      context, method, request, response, wire::kInputDataPath,
      [&](const v1::TopKRequest& message, const ReceivedPayload& payload,
          const std::string& caller, v1::TopKResponse* out,
          InflightCall& call) -> absl::StatusOr<Work> {
        TENSOROPS_ASSIGN_OR_RETURN(
            request::TopKRequestPlan plan,
            request::PlanTopKRequest(message, payload.lifted, options_.limits));
        return TopKWork(std::move(plan), caller, out, call);
      });
}

grpc::ServerUnaryReactor* TensorOpsService::ServeBackward(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::BackwardRequest, v1::BackwardResponse>(
      context, method, request, response, /*lift_path=*/{},
      [&](const v1::BackwardRequest& message, const ReceivedPayload&,
          const std::string& caller, v1::BackwardResponse*,
          InflightCall& call) { return BackwardWork(message, caller, call); });
}

grpc::ServerUnaryReactor* TensorOpsService::ServeReleaseSession(
    grpc::CallbackServerContext* context, int method,
    const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  return Serve<v1::ReleaseSessionRequest, v1::ReleaseSessionResponse>(
      context, method, request, response, /*lift_path=*/{},
      [&](const v1::ReleaseSessionRequest& message, const ReceivedPayload&,
          const std::string& caller, v1::ReleaseSessionResponse*,
          InflightCall&) -> absl::StatusOr<Work> {
        TENSOROPS_RETURN_IF_ERROR(request::ValidateReleaseSession(message));
        return Work{.bytes = 0, .run = [this, &message, caller] {
                      return sessions_.Release(message.session_id(), caller);
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
      context, method, request, response, /*lift_path=*/{},
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
              return absl::OkStatus();
            }};
      });
}

}  // namespace tensorops::server
