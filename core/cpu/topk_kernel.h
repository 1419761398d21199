// topk on the CPU: selection by a running threshold, parallel with oneTBB.
#ifndef TENSOROPS_CORE_CPU_TOPK_KERNEL_H_
#define TENSOROPS_CORE_CPU_TOPK_KERNEL_H_

#include "core/chunked_tensor.h"
#include "core/op_plans.h"
#include "core/tensor.h"

namespace tensorops::cpu {

// Fills `values` and `indices` (owning tensors of plan.output_shape, of the
// input's dtype and int64) with the top plan.k of each slice of `input` along
// plan.input.dim. Parallelizes inside the calling thread's task arena: across
// slices, and within a slice when there are fewer slices than threads.
void TopKKernel(const Tensor& input, const TopKPlan& plan, bool largest,
                bool sorted, Tensor& values, Tensor& indices);

// TopKKernel reading a chunked input where it lies, for the plans it can:
// along a contiguous last dimension, rows of at most 1 MiB, and enough rows
// to give each thread whole rows. Returns false, having done nothing, for
// every other plan (read a contiguous copy then).
bool TopKKernelChunked(const ChunkedTensor& input, const TopKPlan& plan,
                       bool largest, bool sorted, Tensor& values,
                       Tensor& indices);

}  // namespace tensorops::cpu

#endif  // TENSOROPS_CORE_CPU_TOPK_KERNEL_H_
