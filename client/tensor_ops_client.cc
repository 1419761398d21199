#include "client/tensor_ops_client.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/client_unary_call.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/types/span.h"
#include "client/grpc_status.h"
#include "client/health_messages.h"
#include "client/streamed_call.h"
#include "core/status_macros.h"
#include "proto/service_methods.h"
#include "proto/tensor_codec.h"

namespace tensorops::client {
namespace {

namespace v1 = ::tensorops::v1;

// A core tensor reading `wire`'s bytes in place; `owner` (the response that
// holds `wire`) stays alive as long as the tensor does. A response that does
// not describe a valid tensor is the server's fault: INTERNAL.
absl::StatusOr<Tensor> TensorFromResponse(const v1::Tensor& wire,
                                          std::shared_ptr<const void> owner,
                                          absl::string_view field) {
  absl::StatusOr<wire::TensorSpec> spec =
      wire::SpecFromProto(wire, field, wire::DataPolicy::kRequired);
  if (!spec.ok()) {
    return absl::InternalError(absl::StrCat(
        "the server sent a malformed tensor: ", spec.status().message()));
  }
  const std::string& data = wire.data();
  return Tensor::View(
      spec->dtype, std::move(spec->shape),
      absl::MakeConstSpan(reinterpret_cast<const std::byte*>(data.data()),
                          data.size()),
      std::move(owner));
}

std::string ByteBufferToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

// Bytes of `dtype` x `shape`; 0 for a shape the server will refuse anyway
// (the unary call then says why).
int64_t ByteSizeOrZero(DType dtype, ShapeView shape) {
  absl::StatusOr<int64_t> bytes = ByteSize(dtype, shape);
  return bytes.ok() ? *bytes : 0;
}

// The bytes of TopK's values and indices for `input` (0 for an invalid
// request), for choosing the streamed call: a float16 input's int64 indices
// take 4x its bytes.
int64_t TopKResultBytes(const Tensor& input, const TopKParams& params) {
  absl::StatusOr<int64_t> dim = WrapDim(params.dim, input.rank());
  if (!dim.ok() || params.k < 0) return 0;
  int64_t elements = std::min<int64_t>(params.k, 1);  // a 0-d input
  if (input.rank() > 0) {
    const int64_t along = input.shape()[*dim];
    elements = along == 0
                   ? 0
                   : input.num_elements() / along * std::min(params.k, along);
  }
  return elements * static_cast<int64_t>(DTypeSize(input.dtype()) +
                                         DTypeSize(DType::kInt64));
}

// The server's refusal of a request or result past its --max_message_bytes
// (request/limits.cc names the flag).
bool IsOverMessageLimit(const absl::Status& status) {
  return absl::IsResourceExhausted(status) &&
         absl::StrContains(status.message(), "--max_message_bytes");
}

// ZerosLikeStream or OnesLikeStream: only the request's header travels, the
// result comes back in chunks.
template <typename StreamRequest, typename StreamResponse>
absl::StatusOr<Tensor> RunStreamedFill(grpc::ChannelInterface* channel,
                                       const grpc::internal::RpcMethod& method,
                                       grpc::ClientContext* context,
                                       DType input_dtype, ShapeView input_shape,
                                       std::optional<DType> dtype) {
  StreamRequest first;
  wire::SpecToProto(input_dtype, input_shape,
                    first.mutable_request()->mutable_input());
  if (dtype.has_value()) {
    first.mutable_request()->set_dtype(wire::DTypeToProto(*dtype));
  }
  StreamResponse header;
  auto fields = [](const google::protobuf::Message& message) {
    return std::vector<StreamedTensorField>{
        {&static_cast<const StreamResponse&>(message).response().output(),
         "output"}};
  };
  TENSOROPS_ASSIGN_OR_RETURN(
      std::vector<Tensor> results,
      RunStreamedCall(channel, method, context, first, {},
                      kDefaultStreamChunkBytes, &header, fields));
  return std::move(results[0]);
}

}  // namespace

absl::StatusOr<TlsOptions> TlsOptionsFromFiles(
    const std::string& root_certs_path, const std::string& cert_chain_path,
    const std::string& private_key_path, const std::string& server_name) {
  if (cert_chain_path.empty() != private_key_path.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs its private key and the key its "
        "certificate; expected both or neither");
  }
  TlsOptions tls;
  tls.server_name = server_name;
  for (auto [path, pem] :
       {std::pair{&root_certs_path, &tls.root_certs_pem},
        std::pair{&cert_chain_path, &tls.cert_chain_pem},
        std::pair{&private_key_path, &tls.private_key_pem}}) {
    if (path->empty()) continue;
    std::ifstream file(*path, std::ios::binary);
    std::stringstream contents;
    contents << file.rdbuf();
    if (!file || contents.str().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read ", *path, "; expected a PEM file"));
    }
    *pem = contents.str();
  }
  return tls;
}

std::shared_ptr<grpc::Channel> CreateChannel(
    const std::string& address, const std::optional<TlsOptions>& tls) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  if (!tls.has_value()) {
    return grpc::CreateCustomChannel(address,
                                     grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls->root_certs_pem;
  ssl.pem_cert_chain = tls->cert_chain_pem;
  ssl.pem_private_key = tls->private_key_pem;
  if (!tls->server_name.empty()) {
    args.SetSslTargetNameOverride(tls->server_name);
  }
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
}

absl::string_view ServingStatusName(ServingStatus status) {
  switch (status) {
    case ServingStatus::kServing:
      return "SERVING";
    case ServingStatus::kNotServing:
      return "NOT_SERVING";
    case ServingStatus::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    case ServingStatus::kUnknown:
      break;
  }
  return "UNKNOWN";
}

TensorOpsClient::TensorOpsClient(std::shared_ptr<grpc::Channel> channel,
                                 ClientOptions options)
    : channel_(std::move(channel)),
      stub_(v1::TensorOps::NewStub(channel_)),
      topk_method_(wire::MethodPath("TopK"),
                   grpc::internal::RpcMethod::NORMAL_RPC, channel_),
      backward_method_(wire::MethodPath("Backward"),
                       grpc::internal::RpcMethod::NORMAL_RPC, channel_),
      topk_stream_method_(wire::MethodPath("TopKStream"),
                          grpc::internal::RpcMethod::BIDI_STREAMING, channel_),
      backward_stream_method_(wire::MethodPath("BackwardStream"),
                              grpc::internal::RpcMethod::BIDI_STREAMING,
                              channel_),
      zeros_like_stream_method_(wire::MethodPath("ZerosLikeStream"),
                                grpc::internal::RpcMethod::BIDI_STREAMING,
                                channel_),
      ones_like_stream_method_(wire::MethodPath("OnesLikeStream"),
                               grpc::internal::RpcMethod::BIDI_STREAMING,
                               channel_),
      options_(options) {
  for (int method = 0; method < wire::MethodCount(); ++method) {
    methods_.push_back(std::make_unique<grpc::internal::RpcMethod>(
        wire::MethodPath(wire::MethodName(method)),
        grpc::internal::RpcMethod::NORMAL_RPC, channel_));
  }
}

absl::StatusOr<std::string> TensorOpsClient::CallSerialized(
    absl::string_view method, const std::string& request,
    const CallOptions& call) {
  const std::optional<int> index = wire::MethodIndex(method);
  if (!index.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the service has no method ", method));
  }
  if (wire::TensorOpsServiceDescriptor().method(*index)->client_streaming()) {
    return absl::InvalidArgumentError(
        absl::StrCat(method,
                     " is a streamed method; expected a unary one (the typed "
                     "methods stream by themselves, see CallOptions::stream)"));
  }
  // A region is held from its registration on: the hold first.
  if (method == "RegisterSharedMemory") HoldSharedMemory();
  grpc::Slice slice(request);
  grpc::ByteBuffer request_bytes(&slice, 1);
  grpc::ByteBuffer response_bytes;
  TENSOROPS_RETURN_IF_ERROR(FromGrpcStatus(
      grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer,
                                        grpc::ByteBuffer, grpc::ByteBuffer>(
          channel_.get(), *methods_[*index], NewContext(call).get(),
          request_bytes, &response_bytes)));
  std::vector<grpc::Slice> slices;
  if (!response_bytes.Dump(&slices).ok()) {
    return absl::InternalError("could not read the response");
  }
  std::string out;
  out.reserve(response_bytes.Length());
  for (const grpc::Slice& part : slices) {
    out.append(reinterpret_cast<const char*>(part.begin()), part.size());
  }
  return out;
}

absl::Status TensorOpsClient::Call(absl::string_view method,
                                   const google::protobuf::Message& request,
                                   google::protobuf::Message* response,
                                   const CallOptions& call) {
  TENSOROPS_ASSIGN_OR_RETURN(
      const std::string bytes,
      CallSerialized(method, request.SerializeAsString(), call));
  if (!response->ParseFromString(bytes)) {
    return absl::InternalError(
        absl::StrCat("the server's ", method, " response does not parse"));
  }
  return absl::OkStatus();
}

absl::Status TensorOpsClient::RegisterSharedMemory(
    const v1::RegisterSharedMemoryRequest& request, const CallOptions& call) {
  v1::RegisterSharedMemoryResponse response;
  return Call("RegisterSharedMemory", request, &response, call);
}

absl::Status TensorOpsClient::UnregisterSharedMemory(const std::string& name,
                                                     const CallOptions& call) {
  v1::UnregisterSharedMemoryRequest request;
  request.set_name(name);
  v1::UnregisterSharedMemoryResponse response;
  return Call("UnregisterSharedMemory", request, &response, call);
}

void TensorOpsClient::HoldSharedMemory() {
  absl::MutexLock lock(&hold_mutex_);
  if (hold_ != nullptr && !hold_->ended()) return;
  hold_.reset();  // an ended call: the server restarted, or the connection
                  // broke
  hold_ = SharedMemoryHold::Open(
      *stub_, NewContext({.timeout = absl::InfiniteDuration()}),
      options_.default_timeout);
}

absl::StatusOr<v1::ListSharedMemoryResponse> TensorOpsClient::ListSharedMemory(
    const CallOptions& call) {
  v1::ListSharedMemoryRequest request;
  v1::ListSharedMemoryResponse response;
  TENSOROPS_RETURN_IF_ERROR(Call("ListSharedMemory", request, &response, call));
  return response;
}

std::unique_ptr<TensorOpsClient> TensorOpsClient::Connect(
    const std::string& address, ClientOptions options) {
  return std::make_unique<TensorOpsClient>(CreateChannel(address, options.tls),
                                           options);
}

std::unique_ptr<grpc::ClientContext> TensorOpsClient::NewContext(
    const CallOptions& call) const {
  auto context = std::make_unique<grpc::ClientContext>();
  const absl::Duration timeout =
      call.timeout.value_or(options_.default_timeout);
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  const std::optional<std::string>& affinity_key =
      call.affinity_key.has_value() ? call.affinity_key : options_.affinity_key;
  if (affinity_key.has_value()) {
    context->AddMetadata(std::string(kAffinityMetadataKey), *affinity_key);
  }
  if (options_.auth_token.has_value()) {
    context->AddMetadata("authorization",
                         absl::StrCat("Bearer ", *options_.auth_token));
  }
  return context;
}

bool TensorOpsClient::ShouldStream(const CallOptions& call,
                                   int64_t tensor_bytes) const {
  return call.stream.value_or(tensor_bytes > options_.stream_threshold_bytes);
}

absl::StatusOr<Tensor> TensorOpsClient::StreamedFill(bool ones,
                                                     DType input_dtype,
                                                     ShapeView input_shape,
                                                     std::optional<DType> dtype,
                                                     const CallOptions& call) {
  std::unique_ptr<grpc::ClientContext> context = NewContext(call);
  if (ones) {
    return RunStreamedFill<v1::OnesLikeStreamRequest,
                           v1::OnesLikeStreamResponse>(
        channel_.get(), ones_like_stream_method_, context.get(), input_dtype,
        input_shape, dtype);
  }
  return RunStreamedFill<v1::ZerosLikeStreamRequest,
                         v1::ZerosLikeStreamResponse>(
      channel_.get(), zeros_like_stream_method_, context.get(), input_dtype,
      input_shape, dtype);
}

absl::StatusOr<Tensor> TensorOpsClient::StreamedBackward(
    const v1::BackwardRequest& request, absl::Span<const Tensor> tensors,
    const CallOptions& call) {
  v1::BackwardStreamRequest first;
  *first.mutable_request() = request;
  v1::BackwardStreamResponse header;
  auto fields = [](const google::protobuf::Message& message) {
    return std::vector<StreamedTensorField>{
        {&static_cast<const v1::BackwardStreamResponse&>(message)
              .response()
              .grad_input(),
         "grad_input"}};
  };
  TENSOROPS_ASSIGN_OR_RETURN(
      std::vector<Tensor> results,
      RunStreamedCall(channel_.get(), backward_stream_method_,
                      NewContext(call).get(), first, tensors,
                      options_.stream_chunk_bytes, &header, fields));
  return std::move(results[0]);
}

template <typename Response>
absl::Status TensorOpsClient::CallSendingTensors(
    const grpc::internal::RpcMethod& method, const CallOptions& call,
    const google::protobuf::Message& request,
    const wire::OutgoingMessage& tensors, Response* response) {
  grpc::ByteBuffer request_bytes;
  TENSOROPS_RETURN_IF_ERROR(tensors.Serialize(request, &request_bytes));
  // What the generated stub does, with the request already serialized.
  return FromGrpcStatus(grpc::internal::BlockingUnaryCall<
                        grpc::ByteBuffer, Response, grpc::ByteBuffer,
                        grpc::protobuf::MessageLite>(
      channel_.get(), method, NewContext(call).get(), request_bytes, response));
}

absl::StatusOr<Tensor> TensorOpsClient::ZerosLike(const Tensor& input,
                                                  std::optional<DType> dtype,
                                                  const CallOptions& call) {
  return ZerosLike(input.dtype(), input.shape(), dtype, call);
}

absl::StatusOr<Tensor> TensorOpsClient::OnesLike(const Tensor& input,
                                                 std::optional<DType> dtype,
                                                 const CallOptions& call) {
  return OnesLike(input.dtype(), input.shape(), dtype, call);
}

absl::StatusOr<Tensor> TensorOpsClient::ZerosLike(DType input_dtype,
                                                  ShapeView input_shape,
                                                  std::optional<DType> dtype,
                                                  const CallOptions& call) {
  if (ShouldStream(call,
                   ByteSizeOrZero(dtype.value_or(input_dtype), input_shape))) {
    return StreamedFill(/*ones=*/false, input_dtype, input_shape, dtype, call);
  }
  v1::ZerosLikeRequest request;
  wire::SpecToProto(input_dtype, input_shape, request.mutable_input());
  if (dtype.has_value()) request.set_dtype(wire::DTypeToProto(*dtype));
  auto response = std::make_shared<v1::ZerosLikeResponse>();
  TENSOROPS_RETURN_IF_ERROR(FromGrpcStatus(
      stub_->ZerosLike(NewContext(call).get(), request, response.get())));
  return TensorFromResponse(response->output(), response, "output");
}

absl::StatusOr<Tensor> TensorOpsClient::OnesLike(DType input_dtype,
                                                 ShapeView input_shape,
                                                 std::optional<DType> dtype,
                                                 const CallOptions& call) {
  if (ShouldStream(call,
                   ByteSizeOrZero(dtype.value_or(input_dtype), input_shape))) {
    return StreamedFill(/*ones=*/true, input_dtype, input_shape, dtype, call);
  }
  v1::OnesLikeRequest request;
  wire::SpecToProto(input_dtype, input_shape, request.mutable_input());
  if (dtype.has_value()) request.set_dtype(wire::DTypeToProto(*dtype));
  auto response = std::make_shared<v1::OnesLikeResponse>();
  TENSOROPS_RETURN_IF_ERROR(FromGrpcStatus(
      stub_->OnesLike(NewContext(call).get(), request, response.get())));
  return TensorFromResponse(response->output(), response, "output");
}

absl::StatusOr<TopKOutput> TensorOpsClient::StreamedTopK(
    v1::TopKRequest request, const Tensor& input, const CallOptions& call) {
  v1::TopKStreamRequest first;
  *first.mutable_request() = std::move(request);
  wire::SpecToProto(input.dtype(), input.shape(),
                    first.mutable_request()->mutable_input());
  v1::TopKStreamResponse header;
  auto fields = [](const google::protobuf::Message& message) {
    const v1::TopKResponse& response =
        static_cast<const v1::TopKStreamResponse&>(message).response();
    return std::vector<StreamedTensorField>{{&response.values(), "values"},
                                            {&response.indices(), "indices"}};
  };
  TENSOROPS_ASSIGN_OR_RETURN(
      std::vector<Tensor> results,
      RunStreamedCall(channel_.get(), topk_stream_method_,
                      NewContext(call).get(), first, {&input, 1},
                      options_.stream_chunk_bytes, &header, fields));
  return TopKOutput{.values = std::move(results[0]),
                    .indices = std::move(results[1]),
                    .session_id = header.response().session_id()};
}

absl::StatusOr<TopKOutput> TensorOpsClient::TopK(const Tensor& input,
                                                 const TopKParams& params,
                                                 const CallOptions& call) {
  v1::TopKRequest request;
  request.set_k(params.k);
  request.set_dim(params.dim);
  request.set_largest(params.largest);
  request.set_sorted(params.sorted);
  request.set_save_for_backward(params.save_for_backward);
  if (ShouldStream(call, std::max<int64_t>(input.byte_size(),
                                           TopKResultBytes(input, params)))) {
    return StreamedTopK(std::move(request), input, call);
  }
  wire::OutgoingMessage tensors;
  tensors.AttachTensor(v1::TopKRequest::kInputFieldNumber, input);
  auto response = std::make_shared<v1::TopKResponse>();
  TENSOROPS_RETURN_IF_ERROR(
      CallSendingTensors(topk_method_, call, request, tensors, response.get()));
  TopKOutput output;
  TENSOROPS_ASSIGN_OR_RETURN(
      output.values,
      TensorFromResponse(response->values(), response, "values"));
  TENSOROPS_ASSIGN_OR_RETURN(
      output.indices,
      TensorFromResponse(response->indices(), response, "indices"));
  output.session_id = response->session_id();
  return output;
}

absl::StatusOr<SelectionOutput> TensorOpsClient::CallSelection(
    absl::string_view method, const google::protobuf::Message& request,
    const Tensor& input, const CallOptions& call) {
  const std::optional<int> index = wire::MethodIndex(method);
  if (!index.has_value()) {
    return absl::InternalError(
        absl::StrCat("the service has no method ", method));
  }
  // Every selection request has its input as field 1, and every response
  // has values, indices and session_id as fields 1, 2 and 3 (as
  // SortResponse), so one message type reads them all.
  static_assert(v1::SortRequest::kInputFieldNumber == 1 &&
                v1::MaxRequest::kInputFieldNumber == 1 &&
                v1::KthValueRequest::kInputFieldNumber == 1);
  wire::OutgoingMessage tensors;
  tensors.AttachTensor(v1::SortRequest::kInputFieldNumber, input);
  auto response = std::make_shared<v1::SortResponse>();
  TENSOROPS_RETURN_IF_ERROR(CallSendingTensors(*methods_[*index], call, request,
                                               tensors, response.get()));
  SelectionOutput output;
  TENSOROPS_ASSIGN_OR_RETURN(
      output.values,
      TensorFromResponse(response->values(), response, "values"));
  TENSOROPS_ASSIGN_OR_RETURN(
      output.indices,
      TensorFromResponse(response->indices(), response, "indices"));
  output.session_id = response->session_id();
  return output;
}

absl::StatusOr<Tensor> TensorOpsClient::Backward(const std::string& session_id,
                                                 const Tensor& grad_values,
                                                 bool retain_session,
                                                 const CallOptions& call) {
  if (session_id.empty()) {
    // An empty id would silently select the stateless form.
    return absl::InvalidArgumentError(
        "session_id is empty; expected a TopK session id (or use "
        "StatelessBackward)");
  }
  v1::BackwardRequest request;
  request.set_session_id(session_id);
  request.set_retain_session(retain_session);
  auto streamed = [&] {
    v1::BackwardRequest with_header = request;
    wire::SpecToProto(grad_values.dtype(), grad_values.shape(),
                      with_header.mutable_grad_values());
    return StreamedBackward(with_header, {&grad_values, 1}, call);
  };
  if (ShouldStream(call, grad_values.byte_size())) return streamed();
  wire::OutgoingMessage tensors;
  tensors.AttachTensor(v1::BackwardRequest::kGradValuesFieldNumber,
                       grad_values);
  auto response = std::make_shared<v1::BackwardResponse>();
  const absl::Status status = CallSendingTensors(
      backward_method_, call, request, tensors, response.get());
  // Only the server knows the session's input shape, so a small gradient
  // can have a result past its message limit. A refused Backward leaves the
  // session usable: when the choice was ours, stream instead.
  if (!call.stream.has_value() && IsOverMessageLimit(status)) {
    return streamed();
  }
  TENSOROPS_RETURN_IF_ERROR(status);
  return TensorFromResponse(response->grad_input(), response, "grad_input");
}

absl::StatusOr<Tensor> TensorOpsClient::StatelessBackward(
    const Tensor& grad_values, const Tensor& indices, ShapeView input_shape,
    int64_t dim, const CallOptions& call) {
  return StatelessBackward(grad_values, indices, input_shape, dim,
                           /*keepdim=*/true, call);
}

absl::StatusOr<Tensor> TensorOpsClient::StatelessBackward(
    const Tensor& grad_values, const Tensor& indices, ShapeView input_shape,
    int64_t dim, bool keepdim, const CallOptions& call) {
  v1::BackwardRequest request;
  request.mutable_input_shape()->Assign(input_shape.begin(), input_shape.end());
  request.set_dim(dim);
  // Left unset when true (the default), for servers before the field.
  if (!keepdim) request.set_keepdim(false);
  const int64_t request_bytes = grad_values.byte_size() + indices.byte_size();
  if (ShouldStream(
          call, std::max(request_bytes,
                         ByteSizeOrZero(grad_values.dtype(), input_shape)))) {
    wire::SpecToProto(grad_values.dtype(), grad_values.shape(),
                      request.mutable_grad_values());
    wire::SpecToProto(indices.dtype(), indices.shape(),
                      request.mutable_indices());
    const Tensor tensors[] = {grad_values, indices};
    return StreamedBackward(request, tensors, call);
  }
  wire::OutgoingMessage tensors;
  tensors.AttachTensor(v1::BackwardRequest::kGradValuesFieldNumber,
                       grad_values);
  tensors.AttachTensor(v1::BackwardRequest::kIndicesFieldNumber, indices);
  auto response = std::make_shared<v1::BackwardResponse>();
  TENSOROPS_RETURN_IF_ERROR(CallSendingTensors(backward_method_, call, request,
                                               tensors, response.get()));
  return TensorFromResponse(response->grad_input(), response, "grad_input");
}

absl::Status TensorOpsClient::ReleaseSession(const std::string& session_id,
                                             const CallOptions& call) {
  v1::ReleaseSessionRequest request;
  request.set_session_id(session_id);
  v1::ReleaseSessionResponse response;
  return FromGrpcStatus(
      stub_->ReleaseSession(NewContext(call).get(), request, &response));
}

absl::StatusOr<v1::GetServerInfoResponse> TensorOpsClient::GetServerInfo(
    const CallOptions& call) {
  v1::GetServerInfoRequest request;
  v1::GetServerInfoResponse response;
  TENSOROPS_RETURN_IF_ERROR(FromGrpcStatus(
      stub_->GetServerInfo(NewContext(call).get(), request, &response)));
  return response;
}

absl::StatusOr<ServingStatus> TensorOpsClient::Health(absl::string_view service,
                                                      const CallOptions& call) {
  grpc::GenericStub stub(channel_);
  const std::string request_bytes = EncodeHealthCheckRequest(service);
  grpc::Slice slice(request_bytes);
  const grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  std::unique_ptr<grpc::ClientContext> context = NewContext(call);
  stub.UnaryCall(context.get(), "/grpc.health.v1.Health/Check",
                 grpc::StubOptions(), &request, &response,
                 [&](grpc::Status call_status) {
                   status = std::move(call_status);
                   done.Notify();
                 });
  done.WaitForNotification();
  TENSOROPS_RETURN_IF_ERROR(FromGrpcStatus(status));
  return DecodeHealthCheckResponse(ByteBufferToString(response));
}

}  // namespace tensorops::client
