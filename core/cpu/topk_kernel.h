// topk on the CPU: selection by a running threshold, parallel with oneTBB.
#ifndef TENSOROPS_CORE_CPU_TOPK_KERNEL_H_
#define TENSOROPS_CORE_CPU_TOPK_KERNEL_H_

#include "core/op_plans.h"
#include "core/tensor.h"

namespace tensorops::cpu {

// Fills `values` and `indices` (owning tensors of plan.output_shape, of the
// input's dtype and int64) with the top plan.k of each slice of `input` along
// plan.input.dim. Parallelizes inside the calling thread's task arena: across
// slices, and within a slice when there are fewer slices than threads.
void TopKKernel(const Tensor& input, const TopKPlan& plan, bool largest,
                bool sorted, Tensor& values, Tensor& indices);

}  // namespace tensorops::cpu

#endif  // TENSOROPS_CORE_CPU_TOPK_KERNEL_H_
