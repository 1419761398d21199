#include "core/backend.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/op_plans.h"
#include "core/status_macros.h"

namespace tensorops {

absl::StatusOr<Tensor> Backend::Zeros(DType dtype, ShapeView shape,
                                      const OutputMemory* into) {
  TENSOROPS_ASSIGN_OR_RETURN(Tensor output, AllocateOutput(dtype, shape, into));
  TENSOROPS_RETURN_IF_ERROR(RunFill(0, output));
  return output;
}

absl::StatusOr<Tensor> Backend::Ones(DType dtype, ShapeView shape,
                                     const OutputMemory* into) {
  TENSOROPS_ASSIGN_OR_RETURN(Tensor output, AllocateOutput(dtype, shape, into));
  TENSOROPS_RETURN_IF_ERROR(RunFill(OneBits(dtype), output));
  return output;
}

absl::StatusOr<TopKResult> Backend::TopK(const Tensor& input,
                                         const TopKOptions& options) {
  TENSOROPS_ASSIGN_OR_RETURN(const TopKPlan plan,
                             PlanTopK(input.dtype(), input.shape(), options));
  TENSOROPS_ASSIGN_OR_RETURN(TopKResult result,
                             AllocateTopKResult(input.dtype(), plan));
  TENSOROPS_RETURN_IF_ERROR(RunTopK(input, plan, options, result));
  return result;
}

absl::StatusOr<TopKResult> Backend::TopKOfChunks(const ChunkedTensor& input,
                                                 const TopKOptions& options) {
  return TopKOfChunks(input, options, TopKOutputMemory{});
}

absl::StatusOr<TopKResult> Backend::TopKOfChunks(const ChunkedTensor& input,
                                                 const TopKOptions& options,
                                                 const TopKOutputMemory& into) {
  TENSOROPS_ASSIGN_OR_RETURN(const TopKPlan plan,
                             PlanTopK(input.dtype(), input.shape(), options));
  TENSOROPS_ASSIGN_OR_RETURN(TopKResult result,
                             AllocateTopKResult(input.dtype(), plan, into));
  TENSOROPS_RETURN_IF_ERROR(RunTopKOfChunks(input, plan, options, result));
  return result;
}

absl::StatusOr<Tensor> Backend::TopKBackward(const Tensor& grad_values,
                                             const Tensor& indices,
                                             ShapeView input_shape, int64_t dim,
                                             const OutputMemory* into) {
  return TopKBackwardOfChunks(ChunkedTensor::Of(grad_values),
                              ChunkedTensor::Of(indices), input_shape, dim,
                              into);
}

absl::StatusOr<Tensor> Backend::TopKBackwardOfChunks(
    const ChunkedTensor& grad_values, const ChunkedTensor& indices,
    ShapeView input_shape, int64_t dim, const OutputMemory* into) {
  TENSOROPS_ASSIGN_OR_RETURN(
      const TopKBackwardPlan plan,
      PlanTopKBackward(grad_values.dtype(), grad_values.shape(),
                       indices.dtype(), indices.shape(), input_shape, dim));
  TENSOROPS_ASSIGN_OR_RETURN(
      Tensor grad_input,
      AllocateOutput(grad_values.dtype(), plan.output_shape, into));
  TENSOROPS_RETURN_IF_ERROR(
      RunTopKBackwardOfChunks(grad_values, indices, plan, grad_input));
  return grad_input;
}

absl::StatusOr<SelectionResult> Backend::Select(
    const Tensor& input, const SelectionOptions& options) {
  TENSOROPS_ASSIGN_OR_RETURN(
      const SelectionPlan plan,
      PlanSelection(input.dtype(), input.shape(), options));
  TENSOROPS_ASSIGN_OR_RETURN(SelectionResult result,
                             AllocateSelectionResult(input.dtype(), plan));
  TENSOROPS_RETURN_IF_ERROR(RunSelectOrFallback(input, plan, result));
  return result;
}

absl::StatusOr<SelectionResult> Backend::SelectOfChunks(
    const ChunkedTensor& input, const SelectionOptions& options,
    const TopKOutputMemory& into) {
  TENSOROPS_ASSIGN_OR_RETURN(
      const SelectionPlan plan,
      PlanSelection(input.dtype(), input.shape(), options));
  TENSOROPS_ASSIGN_OR_RETURN(
      SelectionResult result,
      AllocateSelectionResult(input.dtype(), plan, into));
  // A view when the bytes are one private chunk, else a private copy (the
  // kernels read elements more than once, which shared bytes must not be).
  TENSOROPS_ASSIGN_OR_RETURN(Tensor contiguous, input.Materialize());
  TENSOROPS_RETURN_IF_ERROR(RunSelectOrFallback(contiguous, plan, result));
  return result;
}

void Backend::SetSelectionFallback(std::unique_ptr<Backend> fallback) {
  selection_fallback_ = std::move(fallback);
}

absl::Status Backend::RunSelectOrFallback(const Tensor& input,
                                          const SelectionPlan& plan,
                                          SelectionResult& result) {
  absl::Status status = RunSelect(input, plan, result);
  if (absl::IsUnimplemented(status) && selection_fallback_ != nullptr) {
    return selection_fallback_->RunSelectOrFallback(input, plan, result);
  }
  return status;
}

absl::Status Backend::RunSelect(const Tensor& /*input*/,
                                const SelectionPlan& plan,
                                SelectionResult& /*result*/) {
  return absl::UnimplementedError(absl::StrCat(
      SelectionKindName(plan.kind), " is not implemented on the ",
      std::string(name()), " backend; run the server with --backend=cpu"));
}

absl::Status Backend::RunTopKOfChunks(const ChunkedTensor& input,
                                      const TopKPlan& plan,
                                      const TopKOptions& options,
                                      TopKResult& result) {
  TENSOROPS_ASSIGN_OR_RETURN(Tensor contiguous, input.Materialize());
  return RunTopK(contiguous, plan, options, result);
}

absl::Status Backend::RunTopKBackwardOfChunks(const ChunkedTensor& grad_values,
                                              const ChunkedTensor& indices,
                                              const TopKBackwardPlan& plan,
                                              Tensor& grad_input) {
  TENSOROPS_ASSIGN_OR_RETURN(Tensor contiguous_grad, grad_values.Materialize());
  TENSOROPS_ASSIGN_OR_RETURN(Tensor contiguous_indices, indices.Materialize());
  return RunTopKBackward(contiguous_grad, contiguous_indices, plan, grad_input);
}

absl::StatusOr<Tensor> ZerosLike(Backend& backend, const Tensor& like,
                                 std::optional<DType> dtype) {
  return backend.Zeros(dtype.value_or(like.dtype()), like.shape());
}

absl::StatusOr<Tensor> OnesLike(Backend& backend, const Tensor& like,
                                std::optional<DType> dtype) {
  return backend.Ones(dtype.value_or(like.dtype()), like.shape());
}

}  // namespace tensorops
