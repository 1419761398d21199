#include "bench/load/call_plan.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/backend.h"
#include "core/cpu/cpu_backend.h"
#include "core/shape.h"
#include "core/status_macros.h"
#include "proto/service_methods.h"
#include "proto/tensor_codec.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::load {
namespace {

using ::tensorops::wire::DTypeToProto;
using ::tensorops::wire::TensorToProto;

// Random elements of any dtype; floating values are finite.
absl::StatusOr<Tensor> RandomTensor(DType dtype, const Shape& shape,
                                    uint64_t seed) {
  TENSOROPS_ASSIGN_OR_RETURN(Tensor tensor, Tensor::Allocate(dtype, shape));
  std::mt19937_64 rng(seed);
  std::byte* out = tensor.mutable_data();
  const int64_t n = tensor.num_elements();
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::kFloat32: {
        float v = uniform(rng);
        std::memcpy(out + 4 * i, &v, 4);
        break;
      }
      case DType::kFloat64: {
        double v = uniform(rng);
        std::memcpy(out + 8 * i, &v, 8);
        break;
      }
      case DType::kBFloat16: {  // upper half of a float32
        float v = uniform(rng);
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        uint16_t half = static_cast<uint16_t>(bits >> 16);
        std::memcpy(out + 2 * i, &half, 2);
        break;
      }
      case DType::kFloat16: {  // exponent below all-ones: finite
        uint16_t half = static_cast<uint16_t>(rng()) & 0xBBFF;
        std::memcpy(out + 2 * i, &half, 2);
        break;
      }
      case DType::kBool:
        out[i] = static_cast<std::byte>(rng() & 1);
        break;
      default: {
        const size_t size = DTypeSize(dtype);
        uint64_t bits = rng();
        std::memcpy(out + size * i, &bits, size);
      }
    }
  }
  return tensor;
}

template <typename Message>
absl::StatusOr<grpc::ByteBuffer> Serialize(const Message& message) {
  grpc::ByteBuffer buffer;
  bool own = false;
  grpc::Status status =
      grpc::SerializationTraits<Message>::Serialize(message, &buffer, &own);
  if (!status.ok()) return absl::InternalError(status.error_message());
  return buffer;
}

template <typename Message>
absl::StatusOr<Message> Parse(grpc::ByteBuffer* buffer) {
  Message message;
  grpc::Status status =
      grpc::SerializationTraits<Message>::Deserialize(buffer, &message);
  if (!status.ok()) {
    return absl::DataLossError(
        absl::StrCat("unparsable response: ", status.error_message()));
  }
  return message;
}

absl::Status Compare(const char* what, const tensorops::v1::Tensor& got,
                     const Tensor& want) {
  if (got.dtype() != DTypeToProto(want.dtype()) ||
      Shape(got.shape().begin(), got.shape().end()) != want.shape()) {
    return absl::DataLossError(
        absl::StrCat(what, ": dtype or shape differs from the local result"));
  }
  if (got.data().size() != want.byte_size() ||
      std::memcmp(got.data().data(), want.data(), want.byte_size()) != 0) {
    return absl::DataLossError(
        absl::StrCat(what, ": bytes differ from the local result"));
  }
  return absl::OkStatus();
}

}  // namespace

const std::string& CallPlan::BackwardMethod() {
  static const std::string* method =
      new std::string(wire::MethodPath("Backward"));
  return *method;
}

absl::Status CallPlan::ComputeTopKResults(const LoadOptions& options) {
  CpuBackend backend;
  TENSOROPS_ASSIGN_OR_RETURN(TopKResult result,
                             backend.TopK(input_, {.k = options.k}));
  expected_values_ = result.values;
  expected_indices_ = result.indices;
  TENSOROPS_ASSIGN_OR_RETURN(
      grad_values_, backend.Ones(DType::kFloat32, result.values.shape()));
  TENSOROPS_ASSIGN_OR_RETURN(
      expected_grad_,
      backend.TopKBackward(grad_values_, result.indices, input_.shape(), -1));
  return absl::OkStatus();
}

absl::StatusOr<CallPlan> CallPlan::Create(const LoadOptions& options) {
  CallPlan plan;
  plan.kind_ = options.call;
  CpuBackend backend;
  TENSOROPS_ASSIGN_OR_RETURN(
      plan.input_, RandomTensor(options.dtype, options.shape, options.seed));

  const CallKind kind = options.call;
  const bool uses_topk = kind == CallKind::kTopK ||
                         kind == CallKind::kBackward ||
                         kind == CallKind::kChain || kind == CallKind::kEcho;
  tensorops::v1::TopKRequest topk;
  if (uses_topk) {
    // Without --check a request the server will reject (k out of range,
    // ...) is still sent: that measures the error path.
    absl::Status local = plan.ComputeTopKResults(options);
    if (!local.ok() && options.check) return local;
    TensorToProto(plan.input_, topk.mutable_input());
    topk.set_k(options.k);
    topk.set_save_for_backward(kind == CallKind::kChain);
  }

  switch (kind) {
    case CallKind::kZerosLike:
    case CallKind::kOnesLike: {
      // Only dtype and shape travel, as the API allows.
      tensorops::v1::ZerosLikeRequest request;
      request.mutable_input()->set_dtype(DTypeToProto(options.dtype));
      for (int64_t dim : options.shape) request.mutable_input()->add_shape(dim);
      if (kind == CallKind::kZerosLike) {
        plan.method_ = wire::MethodPath("ZerosLike");
        TENSOROPS_ASSIGN_OR_RETURN(plan.expected_output_,
                                   backend.Zeros(options.dtype, options.shape));
      } else {
        plan.method_ = wire::MethodPath("OnesLike");
        TENSOROPS_ASSIGN_OR_RETURN(plan.expected_output_,
                                   backend.Ones(options.dtype, options.shape));
      }
      // OnesLikeRequest has the same fields and numbers.
      TENSOROPS_ASSIGN_OR_RETURN(plan.request_, Serialize(request));
      break;
    }
    case CallKind::kTopK:
    case CallKind::kChain: {
      plan.method_ = wire::MethodPath("TopK");
      TENSOROPS_ASSIGN_OR_RETURN(plan.request_, Serialize(topk));
      break;
    }
    case CallKind::kEcho: {
      plan.method_ = options.echo_method;
      TENSOROPS_ASSIGN_OR_RETURN(plan.request_, Serialize(topk));
      break;
    }
    case CallKind::kBackward: {
      tensorops::v1::BackwardRequest request;
      TensorToProto(plan.grad_values_, request.mutable_grad_values());
      TensorToProto(plan.expected_indices_, request.mutable_indices());
      for (int64_t dim : options.shape) request.add_input_shape(dim);
      request.set_dim(-1);
      plan.method_ = BackwardMethod();
      TENSOROPS_ASSIGN_OR_RETURN(plan.request_, Serialize(request));
      break;
    }
    case CallKind::kHealth: {
      plan.method_ = "/grpc.health.v1.Health/Check";
      // An empty HealthCheckRequest (the server's overall status).
      grpc::Slice empty;
      plan.request_ = grpc::ByteBuffer(&empty, 1);
      break;
    }
  }
  plan.request_bytes_ = static_cast<int64_t>(plan.request_.Length());
  return plan;
}

absl::StatusOr<grpc::ByteBuffer> CallPlan::BackwardRequestFor(
    grpc::ByteBuffer topk_response) const {
  TENSOROPS_ASSIGN_OR_RETURN(
      tensorops::v1::TopKResponse response,
      Parse<tensorops::v1::TopKResponse>(&topk_response));
  if (response.session_id().empty()) {
    return absl::DataLossError("TopK(save_for_backward) returned no session");
  }
  tensorops::v1::BackwardRequest request;
  request.set_session_id(response.session_id());
  TensorToProto(grad_values_, request.mutable_grad_values());
  return Serialize(request);
}

absl::Status CallPlan::Check(grpc::ByteBuffer response, bool backward) const {
  if (backward || kind_ == CallKind::kBackward) {
    TENSOROPS_ASSIGN_OR_RETURN(
        tensorops::v1::BackwardResponse message,
        Parse<tensorops::v1::BackwardResponse>(&response));
    return Compare("grad_input", message.grad_input(), expected_grad_);
  }
  switch (kind_) {
    case CallKind::kZerosLike:
    case CallKind::kOnesLike: {
      TENSOROPS_ASSIGN_OR_RETURN(
          tensorops::v1::ZerosLikeResponse message,
          Parse<tensorops::v1::ZerosLikeResponse>(&response));
      return Compare("output", message.output(), expected_output_);
    }
    case CallKind::kTopK:
    case CallKind::kChain: {
      TENSOROPS_ASSIGN_OR_RETURN(tensorops::v1::TopKResponse message,
                                 Parse<tensorops::v1::TopKResponse>(&response));
      TENSOROPS_RETURN_IF_ERROR(
          Compare("values", message.values(), expected_values_));
      return Compare("indices", message.indices(), expected_indices_);
    }
    case CallKind::kHealth: {
      grpc::Slice slice;
      if (!response.DumpToSingleSlice(&slice).ok() || slice.size() != 2 ||
          slice.begin()[0] != 0x08 || slice.begin()[1] != 0x01) {
        return absl::DataLossError("health: not SERVING");
      }
      return absl::OkStatus();
    }
    case CallKind::kEcho:
    case CallKind::kBackward:
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace tensorops::load
