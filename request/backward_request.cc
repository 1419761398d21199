#include "request/backward_request.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/op_plans.h"
#include "core/status_macros.h"
#include "proto/tensor_codec.h"
#include "request/missing_field.h"

namespace tensorops::request {
namespace {

// `tensor` (grad_values or the indices of a reduction that dropped `dim`)
// with dim put back with size 1, so that it has the input's rank.
absl::StatusOr<ChunkedTensor> WithDimRestored(const ChunkedTensor& tensor,
                                              absl::string_view name,
                                              ShapeView input_shape,
                                              int64_t dim) {
  const Shape& shape = tensor.shape();
  if (shape.size() + 1 != input_shape.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " has shape ", ShapeToString(shape),
        ", but the selection dropped dimension ", dim, " of input shape ",
        ShapeToString(input_shape), " (keepdim=false); expected rank ",
        input_shape.size() - 1));
  }
  Shape restored(shape.begin(), shape.end());
  restored.insert(restored.begin() + dim, 1);
  return tensor.Reshaped(std::move(restored));
}

}  // namespace

absl::StatusOr<BackwardInputs> DecodeBackwardRequest(
    const tensorops::v1::BackwardRequest& request, const RequestLimits& limits,
    const BackwardTensorBytes& elsewhere) {
  if (!request.has_grad_values()) {
    return MissingField("grad_values",
                        "the gradient with respect to TopK's values");
  }
  BackwardInputs inputs;
  TENSOROPS_ASSIGN_OR_RETURN(
      inputs.grad,
      wire::ChunkedViewFromProto(request.grad_values(), elsewhere.grad_values,
                                 "grad_values"));
  inputs.grad_input_to_region = request.has_grad_input_shared_memory();
  TENSOROPS_RETURN_IF_ERROR(
      CheckElementLimit(limits, inputs.grad.shape(), "grad_values"));
  if (!request.session_id().empty()) {
    if (request.has_indices() || request.input_shape_size() > 0 ||
        request.has_dim() || request.has_keepdim()) {
      return absl::InvalidArgumentError(
          "indices, input_shape, dim and keepdim must be left unset when "
          "session_id is given (the session holds the selection's); send them "
          "without session_id for the stateless Backward");
    }
    inputs.uses_session = true;
    return inputs;
  }
  if (!request.has_indices()) {
    return MissingField(
        "indices",
        "TopK's int64 indices when session_id is empty (stateless "
        "Backward), or a session_id from TopK with save_for_backward");
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      inputs.indices, wire::ChunkedViewFromProto(request.indices(),
                                                 elsewhere.indices, "indices"));
  TENSOROPS_RETURN_IF_ERROR(
      CheckElementLimit(limits, inputs.indices.shape(), "indices"));
  TENSOROPS_ASSIGN_OR_RETURN(
      inputs.input_shape,
      wire::ShapeFromProto(request.input_shape(), "input_shape"));
  inputs.dim = request.has_dim() ? request.dim() : -1;
  inputs.keeps_dim = request.has_keepdim() ? request.keepdim() : true;
  return inputs;
}

absl::StatusOr<BackwardRequestPlan> PlanBackwardRequest(
    BackwardInputs inputs, const SavedSelection* saved,
    const RequestLimits& limits) {
  if (inputs.uses_session != (saved != nullptr)) {
    return absl::InternalError(
        "PlanBackwardRequest: a session's state must be given exactly when "
        "the request names a session");
  }
  BackwardRequestPlan out;
  out.grad = std::move(inputs.grad);
  if (saved != nullptr) {
    out.indices = ChunkedTensor::Of(saved->indices);
    out.input_shape = saved->input_shape;
    out.dim = saved->dim;
    inputs.keeps_dim = saved->keeps_dim;
  } else {
    out.indices = std::move(inputs.indices);
    out.input_shape = std::move(inputs.input_shape);
    out.dim = inputs.dim;
  }
  // A 0-d input's selection is 0-d either way.
  if (!inputs.keeps_dim && !out.input_shape.empty()) {
    TENSOROPS_ASSIGN_OR_RETURN(
        out.dim,
        WrapDim(out.dim, static_cast<int64_t>(out.input_shape.size())));
    TENSOROPS_ASSIGN_OR_RETURN(
        out.grad,
        WithDimRestored(out.grad, "grad_values", out.input_shape, out.dim));
    TENSOROPS_ASSIGN_OR_RETURN(
        out.indices,
        WithDimRestored(out.indices, "indices", out.input_shape, out.dim));
  }
  if (absl::Status planned =
          PlanTopKBackward(out.grad.dtype(), out.grad.shape(),
                           out.indices.dtype(), out.indices.shape(),
                           out.input_shape, out.dim)
              .status();
      !planned.ok()) {
    if (saved == nullptr) return planned;
    return absl::Status(
        planned.code(),
        absl::StrCat("grad_values does not fit the saved ",
                     SelectionOpName(saved->op), ": ", planned.message()));
  }
  // The plan checked that this byte size fits int64.
  out.output_bytes = *ByteSize(out.grad.dtype(), out.input_shape);
  TENSOROPS_ASSIGN_OR_RETURN(
      out.response_bytes,
      ResponseBound(
          limits,
          ResultWireBytes(out.output_bytes, inputs.grad_input_to_region),
          out.input_shape.size(), 1));
  TENSOROPS_RETURN_IF_ERROR(
      CheckElementLimit(limits, out.input_shape,
                        "the gradient of input_shape (Backward's result)"));
  return out;
}

}  // namespace tensorops::request
