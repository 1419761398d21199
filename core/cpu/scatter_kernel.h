// The topk backward scatter on the CPU.
#ifndef TENSOROPS_CORE_CPU_SCATTER_KERNEL_H_
#define TENSOROPS_CORE_CPU_SCATTER_KERNEL_H_

#include <optional>

#include "absl/status/status.h"
#include "core/chunked_tensor.h"
#include "core/op_plans.h"
#include "core/tensor.h"

namespace tensorops::cpu {

// Zero-fills `grad_input` (owning, plan.output_shape, grad's dtype) and
// writes each grad_values element at its index along plan.output.dim.
// TopKBackwardIndexError (core/op_plans.h) for the first index outside
// [0, size) in memory order; grad_input's contents are then unspecified.
absl::Status ScatterKernel(const Tensor& grad_values, const Tensor& indices,
                           const TopKBackwardPlan& plan, Tensor& grad_input);

// ScatterKernel reading chunked tensors in place, a row at a time (each row
// read once: shared bytes into a private row buffer). nullopt, with
// grad_input untouched, for plans it does not take (dim not the last, or no
// gradient elements): the caller then makes the tensors contiguous.
std::optional<absl::Status> ScatterKernelChunked(
    const ChunkedTensor& grad_values, const ChunkedTensor& indices,
    const TopKBackwardPlan& plan, Tensor& grad_input);

}  // namespace tensorops::cpu

#endif  // TENSOROPS_CORE_CPU_SCATTER_KERNEL_H_
