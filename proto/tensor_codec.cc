#include "proto/tensor_codec.h"

#include <cstddef>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace tensorops::server {
namespace {

namespace v1 = ::tensorops::v1;

constexpr absl::string_view kExpectedDTypes =
    "DTYPE_FLOAT32, DTYPE_FLOAT64, DTYPE_FLOAT16, DTYPE_BFLOAT16, DTYPE_INT8, "
    "DTYPE_INT16, DTYPE_INT32, DTYPE_INT64, DTYPE_UINT8 or DTYPE_BOOL";

}  // namespace

absl::StatusOr<DType> DTypeFromProto(int proto_dtype, absl::string_view field) {
  switch (proto_dtype) {
    case v1::DTYPE_FLOAT32:
      return DType::kFloat32;
    case v1::DTYPE_FLOAT64:
      return DType::kFloat64;
    case v1::DTYPE_FLOAT16:
      return DType::kFloat16;
    case v1::DTYPE_BFLOAT16:
      return DType::kBFloat16;
    case v1::DTYPE_INT8:
      return DType::kInt8;
    case v1::DTYPE_INT16:
      return DType::kInt16;
    case v1::DTYPE_INT32:
      return DType::kInt32;
    case v1::DTYPE_INT64:
      return DType::kInt64;
    case v1::DTYPE_UINT8:
      return DType::kUInt8;
    case v1::DTYPE_BOOL:
      return DType::kBool;
    case v1::DTYPE_UNSPECIFIED:
      return absl::InvalidArgumentError(
          absl::StrCat(field, " is DTYPE_UNSPECIFIED (not set); expected ",
                       kExpectedDTypes));
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field, " has unknown value ", proto_dtype, "; expected ",
                       kExpectedDTypes));
  }
}

v1::DType DTypeToProto(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return v1::DTYPE_FLOAT32;
    case DType::kFloat64:
      return v1::DTYPE_FLOAT64;
    case DType::kFloat16:
      return v1::DTYPE_FLOAT16;
    case DType::kBFloat16:
      return v1::DTYPE_BFLOAT16;
    case DType::kInt8:
      return v1::DTYPE_INT8;
    case DType::kInt16:
      return v1::DTYPE_INT16;
    case DType::kInt32:
      return v1::DTYPE_INT32;
    case DType::kInt64:
      return v1::DTYPE_INT64;
    case DType::kUInt8:
      return v1::DTYPE_UINT8;
    case DType::kBool:
      return v1::DTYPE_BOOL;
  }
  return v1::DTYPE_UNSPECIFIED;
}

absl::StatusOr<Shape> ShapeFromProto(
    const google::protobuf::RepeatedField<int64_t>& dims,
    absl::string_view field) {
  if (dims.size() > kMaxRank) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " has ", dims.size(), " dimensions, more than the ", kMaxRank,
        " this server accepts; expected a tensor of "
        "rank <= ",
        kMaxRank));
  }
  for (int i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "] is ", dims[i],
                       "; expected every dimension to be >= 0"));
    }
  }
  const absl::Span<const int64_t> view(dims.data(), dims.size());
  if (absl::StatusOr<int64_t> count = NumElements(view); !count.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", ShapeToString(view),
                     " has more elements than fit in int64; expected a "
                     "shape whose product is below 2^63"));
  }
  return Shape(dims.begin(), dims.end());
}

absl::StatusOr<TensorSpec> SpecFromProto(const v1::Tensor& tensor,
                                         absl::string_view field,
                                         DataPolicy policy) {
  return SpecFromProto(tensor, std::nullopt, field, policy);
}

absl::StatusOr<TensorSpec> SpecFromProto(
    const v1::Tensor& tensor, const std::optional<ChunkedBytes>& lifted_data,
    absl::string_view field, DataPolicy policy) {
  TensorSpec spec;
  absl::StatusOr<DType> dtype =
      DTypeFromProto(tensor.dtype(), absl::StrCat(field, ".dtype"));
  if (!dtype.ok()) return dtype.status();
  spec.dtype = *dtype;
  absl::StatusOr<Shape> shape =
      ShapeFromProto(tensor.shape(), absl::StrCat(field, ".shape"));
  if (!shape.ok()) return shape.status();
  spec.shape = *std::move(shape);
  absl::StatusOr<int64_t> bytes = ByteSize(spec.dtype, spec.shape);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " of dtype ", DTypeName(spec.dtype), " and shape ",
        ShapeToString(spec.shape),
        " has a byte size beyond int64; expected a smaller shape"));
  }
  spec.byte_size = *bytes;
  const size_t data_size =
      lifted_data.has_value() ? lifted_data->size() : tensor.data().size();
  const bool data_ok = data_size == static_cast<size_t>(spec.byte_size) ||
                       (policy == DataPolicy::kOptional && data_size == 0);
  if (!data_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".data has ", data_size, " bytes but a ", DTypeName(spec.dtype),
        " tensor of shape ", ShapeToString(spec.shape), " needs exactly ",
        spec.byte_size, " bytes (", DTypeSize(spec.dtype),
        " per element, contiguous row-major little-endian)",
        policy == DataPolicy::kOptional ? ", or none at all" : ""));
  }
  return spec;
}

absl::StatusOr<Tensor> ViewFromProto(const v1::Tensor& tensor,
                                     absl::string_view field) {
  absl::StatusOr<TensorSpec> spec =
      SpecFromProto(tensor, field, DataPolicy::kRequired);
  if (!spec.ok()) return spec.status();
  const std::string& data = tensor.data();
  return Tensor::View(
      spec->dtype, std::move(spec->shape),
      absl::MakeConstSpan(reinterpret_cast<const std::byte*>(data.data()),
                          data.size()),
      /*owner=*/nullptr);
}

absl::StatusOr<ChunkedTensor> ChunkedViewFromProto(
    const v1::Tensor& tensor, const std::optional<ChunkedBytes>& lifted_data,
    absl::string_view field) {
  absl::StatusOr<TensorSpec> spec =
      SpecFromProto(tensor, lifted_data, field, DataPolicy::kRequired);
  if (!spec.ok()) return spec.status();
  if (lifted_data.has_value()) {
    return ChunkedTensor::View(spec->dtype, std::move(spec->shape),
                               *lifted_data, /*owner=*/nullptr);
  }
  const std::string& data = tensor.data();
  return ChunkedTensor::View(
      spec->dtype, std::move(spec->shape),
      ChunkedBytes({absl::MakeConstSpan(
          reinterpret_cast<const std::byte*>(data.data()), data.size())}),
      /*owner=*/nullptr);
}

void TensorToProto(const Tensor& tensor, v1::Tensor* out) {
  out->set_dtype(DTypeToProto(tensor.dtype()));
  out->mutable_shape()->Assign(tensor.shape().begin(), tensor.shape().end());
  if (tensor.byte_size() == 0) {
    out->clear_data();
    return;
  }
  // assign() copies straight into fresh storage (no zero-filling first).
  out->mutable_data()->assign(reinterpret_cast<const char*>(tensor.data()),
                              tensor.byte_size());
}

}  // namespace tensorops::server
