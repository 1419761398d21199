// sort, kthvalue, max, min and median on the CPU (Backend::Select), parallel
// with oneTBB across slices (max and min also within few long rows).
#ifndef TENSOROPS_CORE_CPU_SELECTION_KERNEL_H_
#define TENSOROPS_CORE_CPU_SELECTION_KERNEL_H_

#include "core/op_plans.h"
#include "core/tensor.h"

namespace tensorops::cpu {

// Fills `values` and `indices` (owning tensors of plan.output_shape, of the
// input's dtype and int64) with the selection `plan` describes, by the
// rules of Backend::Select. Runs inside the calling thread's task arena.
void SelectionKernel(const Tensor& input, const SelectionPlan& plan,
                     Tensor& values, Tensor& indices);

}  // namespace tensorops::cpu

#endif  // TENSOROPS_CORE_CPU_SELECTION_KERNEL_H_
