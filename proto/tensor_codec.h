// Conversion between the wire tensor (tensorops.v1.Tensor) and core tensors.
//
// Everything a request says about a tensor is validated here before anything
// is allocated from it: the dtype is set and known, every dimension is >= 0,
// the element and byte counts do not overflow, and the data is exactly
// product(shape) x dtype size bytes.
#ifndef TENSOROPS_PROTO_TENSOR_CODEC_H_
#define TENSOROPS_PROTO_TENSOR_CODEC_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/chunked_tensor.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "google/protobuf/repeated_field.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::wire {

// The core dtype of a wire dtype. INVALID_ARGUMENT, naming `field`, for
// DTYPE_UNSPECIFIED and for values this server does not know.
absl::StatusOr<DType> DTypeFromProto(int proto_dtype, absl::string_view field);

tensorops::v1::DType DTypeToProto(DType dtype);

// A validated shape: at most kMaxRank dimensions, every one >= 0, and the
// element count fits int64.
absl::StatusOr<Shape> ShapeFromProto(
    const google::protobuf::RepeatedField<int64_t>& dims,
    absl::string_view field);

// A wire tensor's dtype and shape, validated, with its byte size.
struct TensorSpec {
  DType dtype = DType::kFloat32;
  Shape shape;
  int64_t byte_size = 0;
};

enum class DataPolicy {
  kRequired,  // data must hold exactly byte_size bytes
  kOptional,  // data may also be empty (only dtype and shape are used)
};

absl::StatusOr<TensorSpec> SpecFromProto(const tensorops::v1::Tensor& tensor,
                                         absl::string_view field,
                                         DataPolicy policy);
// As above, for a tensor whose data was lifted out of the message
// (proto/lifted_field.h): `lifted_data` replaces tensor.data() when set.
absl::StatusOr<TensorSpec> SpecFromProto(
    const tensorops::v1::Tensor& tensor,
    const std::optional<ChunkedBytes>& lifted_data, absl::string_view field,
    DataPolicy policy);

// A core tensor reading the message's bytes in place (no copy). The message
// must outlive the returned tensor and all its copies: the service keeps the
// request alive until it has sent the response.
absl::StatusOr<Tensor> ViewFromProto(const tensorops::v1::Tensor& tensor,
                                     absl::string_view field);

// As ViewFromProto, with `elsewhere` (lifted or shared memory bytes, when
// set) instead of tensor.data(): read in place if private, else copied once
// into an owning tensor.
absl::StatusOr<Tensor> ViewFromProto(
    const tensorops::v1::Tensor& tensor,
    const std::optional<ChunkedBytes>& elsewhere, absl::string_view field);

// As ViewFromProto, reading `lifted_data` in place when set (else
// tensor.data()). The chunks must outlive the returned tensor and its copies.
absl::StatusOr<ChunkedTensor> ChunkedViewFromProto(
    const tensorops::v1::Tensor& tensor,
    const std::optional<ChunkedBytes>& lifted_data, absl::string_view field);

// Sets `out`'s dtype and shape, leaving its data alone: the tensor header
// that *_like requests and OutgoingMessage send.
void SpecToProto(DType dtype, ShapeView shape, tensorops::v1::Tensor* out);

// Fills `out` with `tensor`, copying its bytes once.
void TensorToProto(const Tensor& tensor, tensorops::v1::Tensor* out);

}  // namespace tensorops::wire

#endif  // TENSOROPS_PROTO_TENSOR_CODEC_H_
