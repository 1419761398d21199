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
#include "proto/tensor_codec.h"
#include "server/outgoing_response.h"
#include "server/status_mapping.h"

namespace tensorops::server {
namespace {

namespace v1 = ::tensorops::v1;

// Prefixes a core error with where it applies, keeping its code.
absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, status.message()));
}

// PrepareFill attaches its result as the output of either response.
static_assert(static_cast<int>(v1::ZerosLikeResponse::kOutputFieldNumber) ==
              static_cast<int>(v1::OnesLikeResponse::kOutputFieldNumber));
constexpr int kFillOutputField = v1::ZerosLikeResponse::kOutputFieldNumber;

absl::Status MissingTensor(absl::string_view field, absl::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is not set; expected ", want));
}

}  // namespace

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
}

grpc::ServerUnaryReactor* TensorOpsService::Dispatch(
    grpc::CallbackServerContext* context, Method method,
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
  if (static_cast<int64_t>(wire.Length()) > options_.max_message_bytes) {
    return refuse(absl::ResourceExhaustedError(absl::StrCat(
        "the request has ", wire.Length(),
        " bytes, more than this server's message limit of ",
        options_.max_message_bytes,
        " bytes (--max_message_bytes); expected a smaller request")));
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
    grpc::CallbackServerContext* context, Method method,
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

absl::StatusOr<int64_t> TensorOpsService::ResponseBound(int64_t data_bytes,
                                                        size_t total_rank,
                                                        int tensors) const {
  // Upper bound of the encoding: every dim is a varint of at most 10 bytes,
  // plus tags, lengths and the other small fields.
  const int64_t overhead =
      static_cast<int64_t>(total_rank) * 10 + int64_t{64} * (tensors + 1);
  if (data_bytes <= options_.max_message_bytes - overhead) {
    return data_bytes + overhead;
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "the response would carry ", data_bytes,
      " bytes of tensor data, more than this server's message limit of ",
      options_.max_message_bytes,
      " bytes (--max_message_bytes); expected a smaller result"));
}

absl::Status TensorOpsService::CheckElementLimit(ShapeView shape,
                                                 absl::string_view what) const {
  absl::StatusOr<int64_t> count = NumElements(shape);
  if (count.ok() && *count <= options_.max_tensor_elements) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      what, " has ",
      count.ok() ? absl::StrCat(*count) : std::string("more than 2^63"),
      " elements (shape ", ShapeToString(shape),
      "), more than this server's limit of ", options_.max_tensor_elements,
      " per tensor (--max_tensor_elements); expected a smaller tensor"));
}

absl::StatusOr<TensorOpsService::Work> TensorOpsService::PrepareFill(
    const v1::Tensor* input, const std::optional<ChunkedBytes>& lifted_data,
    int dtype, bool ones, InflightCall& call) {
  if (input == nullptr) {
    return MissingTensor("input", "a tensor (dtype and shape; data optional)");
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      TensorSpec spec,
      SpecFromProto(*input, lifted_data, "input", DataPolicy::kOptional));
  DType output_dtype = spec.dtype;
  if (dtype != v1::DTYPE_UNSPECIFIED) {
    TENSOROPS_ASSIGN_OR_RETURN(output_dtype, DTypeFromProto(dtype, "dtype"));
  }
  absl::StatusOr<int64_t> output_bytes = ByteSize(output_dtype, spec.shape);
  if (!output_bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", DTypeName(output_dtype), " tensor of shape ",
        ShapeToString(spec.shape),
        " has a byte size beyond int64; expected a smaller shape"));
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      const int64_t response_bytes,
      ResponseBound(*output_bytes, spec.shape.size(), 1));
  TENSOROPS_RETURN_IF_ERROR(CheckElementLimit(spec.shape, "input"));
  return Work{.bytes = *output_bytes,
              .response_bytes = response_bytes,
              .run = [this, output_dtype, shape = std::move(spec.shape), ones,
                      &call]() -> absl::Status {
                TENSOROPS_ASSIGN_OR_RETURN(
                    Tensor result, ones ? backend_.Ones(output_dtype, shape)
                                        : backend_.Zeros(output_dtype, shape));
                call.outgoing().AttachTensor(kFillOutputField,
                                             std::move(result));
                return absl::OkStatus();
              }};
}

absl::StatusOr<TensorOpsService::Work> TensorOpsService::PrepareTopK(
    const v1::TopKRequest& request,
    const std::optional<ChunkedBytes>& lifted_data, const std::string& caller,
    v1::TopKResponse* response, InflightCall& call) {
  if (!request.has_input()) {
    return MissingTensor("input", "the tensor to select from");
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      ChunkedTensor input,
      ChunkedViewFromProto(request.input(), lifted_data, "input"));
  TENSOROPS_RETURN_IF_ERROR(CheckElementLimit(input.shape(), "input"));
  TopKOptions options;
  options.k = request.k();
  options.dim = request.has_dim() ? request.dim() : -1;
  options.largest = request.has_largest() ? request.largest() : true;
  options.sorted = request.has_sorted() ? request.sorted() : true;
  TENSOROPS_ASSIGN_OR_RETURN(TopKPlan plan,
                             PlanTopK(input.dtype(), input.shape(), options));
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t count,
                             NumElements(plan.output_shape));
  // count <= the input's element count, so neither product overflows.
  const int64_t values_bytes =
      count * static_cast<int64_t>(DTypeSize(input.dtype()));
  const int64_t indices_bytes = count * int64_t{8};
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t response_bytes,
                             ResponseBound(values_bytes + indices_bytes,
                                           2 * plan.output_shape.size(), 2));
  int64_t wrapped_dim = 0;
  if (request.save_for_backward()) {
    TENSOROPS_ASSIGN_OR_RETURN(wrapped_dim, WrapDim(options.dim, input.rank()));
    TENSOROPS_RETURN_IF_ERROR(
        sessions_.CheckFits(SessionCache::SessionFootprintBytes(
            indices_bytes, input.shape().size())));
  }
  const int64_t bytes =
      static_cast<int64_t>(input.byte_size()) + values_bytes + indices_bytes;
  return Work{
      .bytes = bytes,
      .response_bytes = response_bytes,
      .run = [this, input = std::move(input), options, wrapped_dim,
              save = request.save_for_backward(), caller, response,
              &call]() -> absl::Status {
        TENSOROPS_ASSIGN_OR_RETURN(TopKResult result,
                                   backend_.TopKOfChunks(input, options));
        if (save) {
          // The saved indices share the core's buffer with `result`; the
          // response gets its own copy below.
          TENSOROPS_ASSIGN_OR_RETURN(
              std::string session_id,
              sessions_.Save(SavedTopK{.indices = result.indices,
                                       .input_shape = input.shape(),
                                       .dim = wrapped_dim},
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

absl::StatusOr<TensorOpsService::Work> TensorOpsService::PrepareBackward(
    const v1::BackwardRequest& request, const std::string& caller,
    InflightCall& call) {
  if (!request.has_grad_values()) {
    return MissingTensor("grad_values",
                         "the gradient with respect to TopK's values");
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      Tensor grad, ViewFromProto(request.grad_values(), "grad_values"));
  TENSOROPS_RETURN_IF_ERROR(CheckElementLimit(grad.shape(), "grad_values"));

  // What the backward scatters into: from the session or from the request.
  std::shared_ptr<const SavedTopK> saved;
  Tensor indices;
  Shape input_shape;
  int64_t dim = -1;
  if (!request.session_id().empty()) {
    if (request.has_indices() || request.input_shape_size() > 0 ||
        request.has_dim()) {
      return absl::InvalidArgumentError(
          "indices, input_shape and dim must be left unset when session_id is "
          "given (the session holds TopK's); send them without session_id "
          "for the stateless Backward");
    }
    TENSOROPS_ASSIGN_OR_RETURN(saved,
                               sessions_.Get(request.session_id(), caller));
    indices = saved->indices;
    input_shape = saved->input_shape;
    dim = saved->dim;
  } else {
    if (!request.has_indices()) {
      return MissingTensor(
          "indices",
          "TopK's int64 indices when session_id is empty (stateless "
          "Backward), or a session_id from TopK with save_for_backward");
    }
    TENSOROPS_ASSIGN_OR_RETURN(indices,
                               ViewFromProto(request.indices(), "indices"));
    TENSOROPS_RETURN_IF_ERROR(CheckElementLimit(indices.shape(), "indices"));
    TENSOROPS_ASSIGN_OR_RETURN(
        input_shape, ShapeFromProto(request.input_shape(), "input_shape"));
    dim = request.has_dim() ? request.dim() : -1;
  }
  TENSOROPS_RETURN_IF_ERROR(Annotate(
      PlanTopKBackward(grad.dtype(), grad.shape(), indices.dtype(),
                       indices.shape(), input_shape, dim)
          .status(),
      saved != nullptr ? "grad_values does not fit the saved TopK: " : ""));
  // The plan checked that this byte size fits int64.
  const int64_t output_bytes = *ByteSize(grad.dtype(), input_shape);
  TENSOROPS_ASSIGN_OR_RETURN(
      const int64_t response_bytes,
      ResponseBound(output_bytes, input_shape.size(), 1));
  TENSOROPS_RETURN_IF_ERROR(CheckElementLimit(
      input_shape, "the gradient of input_shape (Backward's result)"));

  // Claim the session only once the request is known to be good; of
  // several concurrent Backward calls on one session exactly one gets it,
  // and it is consumed only if that call's result is delivered.
  if (saved != nullptr && !request.retain_session()) {
    TENSOROPS_ASSIGN_OR_RETURN(
        SessionCache::Claim claim,
        sessions_.ClaimSession(request.session_id(), caller));
    call.WhenDone([claim = std::move(claim)](bool delivered) mutable {
      claim.Finish(/*consumed=*/delivered);
    });
  }
  const int64_t bytes = static_cast<int64_t>(grad.byte_size()) +
                        static_cast<int64_t>(indices.byte_size()) +
                        output_bytes;
  return Work{
      .bytes = bytes,
      .response_bytes = response_bytes,
      .run = [this, grad = std::move(grad), indices = std::move(indices),
              input_shape = std::move(input_shape), dim,
              saved = std::move(saved), &call]() -> absl::Status {
        TENSOROPS_ASSIGN_OR_RETURN(
            Tensor grad_input,
            backend_.TopKBackward(grad, indices, input_shape, dim));
        call.outgoing().AttachTensor(
            v1::BackwardResponse::kGradInputFieldNumber, std::move(grad_input));
        return absl::OkStatus();
      }};
}

grpc::ServerUnaryReactor* TensorOpsService::ZerosLike(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve<v1::ZerosLikeRequest, v1::ZerosLikeResponse>(
      context, Method::kZerosLike, *request, response, kInputDataPath,
      [&](const v1::ZerosLikeRequest& message, const ReceivedPayload& payload,
          const std::string&, v1::ZerosLikeResponse*, InflightCall& call) {
        return PrepareFill(message.has_input() ? &message.input() : nullptr,
                           payload.lifted, message.dtype(), /*ones=*/false,
                           call);
      });
}

grpc::ServerUnaryReactor* TensorOpsService::OnesLike(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve<v1::OnesLikeRequest, v1::OnesLikeResponse>(
      context, Method::kOnesLike, *request, response, kInputDataPath,
      [&](const v1::OnesLikeRequest& message, const ReceivedPayload& payload,
          const std::string&, v1::OnesLikeResponse*, InflightCall& call) {
        return PrepareFill(message.has_input() ? &message.input() : nullptr,
                           payload.lifted, message.dtype(), /*ones=*/true,
                           call);
      });
}

grpc::ServerUnaryReactor* TensorOpsService::TopK(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve<v1::TopKRequest, v1::TopKResponse>(
      context, Method::kTopK, *request, response, kInputDataPath,
      [&](const v1::TopKRequest& message, const ReceivedPayload& payload,
          const std::string& caller, v1::TopKResponse* out,
          InflightCall& call) {
        return PrepareTopK(message, payload.lifted, caller, out, call);
      });
}

grpc::ServerUnaryReactor* TensorOpsService::Backward(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve<v1::BackwardRequest, v1::BackwardResponse>(
      context, Method::kBackward, *request, response, /*lift_path=*/{},
      [&](const v1::BackwardRequest& message, const ReceivedPayload&,
          const std::string& caller, v1::BackwardResponse*,
          InflightCall& call) {
        return PrepareBackward(message, caller, call);
      });
}

grpc::ServerUnaryReactor* TensorOpsService::ReleaseSession(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve<v1::ReleaseSessionRequest, v1::ReleaseSessionResponse>(
      context, Method::kReleaseSession, *request, response, /*lift_path=*/{},
      [&](const v1::ReleaseSessionRequest& message, const ReceivedPayload&,
          const std::string& caller, v1::ReleaseSessionResponse*,
          InflightCall&) -> absl::StatusOr<Work> {
        if (message.session_id().empty()) {
          return absl::InvalidArgumentError(
              "session_id is empty; expected an id returned by TopK with "
              "save_for_backward");
        }
        return Work{.bytes = 0, .run = [this, &message, caller] {
                      return sessions_.Release(message.session_id(), caller);
                    }};
      });
}

grpc::ServerUnaryReactor* TensorOpsService::GetServerInfo(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve<v1::GetServerInfoRequest, v1::GetServerInfoResponse>(
      context, Method::kGetServerInfo, *request, response, /*lift_path=*/{},
      [&](const v1::GetServerInfoRequest&, const ReceivedPayload&,
          const std::string& caller, v1::GetServerInfoResponse* response,
          InflightCall&) -> absl::StatusOr<Work> {
        return Work{
            .bytes = 0, .run = [this, response, caller] {
              response->set_version(options_.version);
              response->set_backend(std::string(backend_.name()));
              response->set_compute_threads(options_.compute_threads);
              response->set_max_message_bytes(options_.max_message_bytes);
              response->set_session_ttl_ms(
                  absl::ToInt64Milliseconds(sessions_.options().ttl));
              response->set_session_cache_bytes(sessions_.options().max_bytes);
              const SessionCacheStats stats = sessions_.stats();
              response->set_session_count(stats.entries);
              response->set_session_bytes(stats.bytes);
              response->set_max_tensor_elements(options_.max_tensor_elements);
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
