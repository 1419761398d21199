#include "request/fill_request.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "proto/tensor_codec.h"
#include "request/missing_field.h"

namespace tensorops::request {
namespace {

namespace v1 = ::tensorops::v1;

absl::StatusOr<FillPlan> PlanFill(const v1::Tensor* input,
                                  const std::optional<ChunkedBytes>& lifted,
                                  int dtype, bool ones, bool to_region,
                                  const RequestLimits& limits) {
  if (input == nullptr) {
    return MissingField("input", "a tensor (dtype and shape; data optional)");
  }
  TENSOROPS_ASSIGN_OR_RETURN(wire::TensorSpec spec,
                             wire::SpecFromProto(*input, lifted, "input",
                                                 wire::DataPolicy::kOptional));
  DType output_dtype = spec.dtype;
  if (dtype != v1::DTYPE_UNSPECIFIED) {
    TENSOROPS_ASSIGN_OR_RETURN(output_dtype,
                               wire::DTypeFromProto(dtype, "dtype"));
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
      ResponseBound(limits, ResultWireBytes(*output_bytes, to_region),
                    spec.shape.size(), 1));
  TENSOROPS_RETURN_IF_ERROR(CheckElementLimit(limits, spec.shape, "input"));
  return FillPlan{.dtype = output_dtype,
                  .shape = std::move(spec.shape),
                  .ones = ones,
                  .output_bytes = *output_bytes,
                  .response_bytes = response_bytes};
}

}  // namespace

absl::StatusOr<FillPlan> PlanZerosLike(
    const v1::ZerosLikeRequest& request,
    const std::optional<ChunkedBytes>& lifted_data,
    const RequestLimits& limits) {
  return PlanFill(request.has_input() ? &request.input() : nullptr, lifted_data,
                  request.dtype(), /*ones=*/false,
                  request.has_output_shared_memory(), limits);
}

absl::StatusOr<FillPlan> PlanOnesLike(
    const v1::OnesLikeRequest& request,
    const std::optional<ChunkedBytes>& lifted_data,
    const RequestLimits& limits) {
  return PlanFill(request.has_input() ? &request.input() : nullptr, lifted_data,
                  request.dtype(), /*ones=*/true,
                  request.has_output_shared_memory(), limits);
}

}  // namespace tensorops::request
