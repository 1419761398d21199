#include "proto/tensor_codec.h"

#include <array>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace tensorops::wire {
namespace {

namespace v1 = ::tensorops::v1;

// The wire dtype DTYPE_<NAME> is the core dtype named <name> (its PyTorch
// name): the table is derived from the proto enum and core's dtype list,
// and every core dtype must have its wire value.
struct DTypeTable {
  static constexpr int kMaxWireValue = 64;
  std::array<std::optional<DType>, kMaxWireValue> from_wire{};
  std::array<v1::DType, std::size(kAllDTypes)> to_wire{};
  std::string expected;  // "DTYPE_FLOAT32, ... or DTYPE_BOOL"

  DTypeTable() {
    for (size_t i = 0; i < std::size(kAllDTypes); ++i) {
      const DType dtype = kAllDTypes[i];
      const std::string name =
          absl::StrCat("DTYPE_", absl::AsciiStrToUpper(DTypeName(dtype)));
      v1::DType wire = v1::DTYPE_UNSPECIFIED;
      if (!v1::DType_Parse(name, &wire) || wire <= 0 || wire >= kMaxWireValue) {
        std::fprintf(stderr, "tensor_codec: no wire dtype %s\n", name.c_str());
        std::abort();
      }
      from_wire[wire] = dtype;
      to_wire[static_cast<size_t>(dtype)] = wire;
      absl::StrAppend(
          &expected,
          i == 0 ? "" : (i + 1 == std::size(kAllDTypes) ? " or " : ", "), name);
    }
  }
};

const DTypeTable& Table() {
  static const DTypeTable* const table = new DTypeTable();
  return *table;
}

}  // namespace

absl::StatusOr<DType> DTypeFromProto(int proto_dtype, absl::string_view field) {
  const DTypeTable& table = Table();
  if (proto_dtype > 0 && proto_dtype < DTypeTable::kMaxWireValue &&
      table.from_wire[proto_dtype].has_value()) {
    return *table.from_wire[proto_dtype];
  }
  if (proto_dtype == v1::DTYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " is DTYPE_UNSPECIFIED (not set); expected ", table.expected));
  }
  return absl::InvalidArgumentError(absl::StrCat(field, " has unknown value ",
                                                 proto_dtype, "; expected ",
                                                 table.expected));
}

v1::DType DTypeToProto(DType dtype) {
  return Table().to_wire[static_cast<size_t>(dtype)];
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

absl::StatusOr<Tensor> ViewFromProto(
    const v1::Tensor& tensor, const std::optional<ChunkedBytes>& elsewhere,
    absl::string_view field) {
  if (!elsewhere.has_value()) return ViewFromProto(tensor, field);
  absl::StatusOr<ChunkedTensor> chunked =
      ChunkedViewFromProto(tensor, elsewhere, field);
  if (!chunked.ok()) return chunked.status();
  return chunked->Materialize();
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

void SpecToProto(DType dtype, ShapeView shape, v1::Tensor* out) {
  out->set_dtype(DTypeToProto(dtype));
  out->mutable_shape()->Assign(shape.begin(), shape.end());
}

void TensorToProto(const Tensor& tensor, v1::Tensor* out) {
  SpecToProto(tensor.dtype(), tensor.shape(), out);
  if (tensor.byte_size() == 0) {
    out->clear_data();
    return;
  }
  // assign() copies straight into fresh storage (no zero-filling first).
  out->mutable_data()->assign(reinterpret_cast<const char*>(tensor.data()),
                              tensor.byte_size());
}

}  // namespace tensorops::wire
