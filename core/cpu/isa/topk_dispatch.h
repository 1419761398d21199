// The topk kernel's entry points for one instruction set: dispatch on the
// dtype (TENSOROPS_FOR_EACH_NUMERIC_DTYPE; bool is rejected by PlanTopK) to
// the row or column strategy. Defines TENSOROPS_CPU_ISA::TopKKernel and
// TopKKernelChunked, which core/cpu/topk_kernel.cc picks from at run time.
#ifndef TENSOROPS_CORE_CPU_ISA_TOPK_DISPATCH_H_
#define TENSOROPS_CORE_CPU_ISA_TOPK_DISPATCH_H_

#include <tbb/task_arena.h>

#include <cstdint>

#include "core/chunked_tensor.h"
#include "core/cpu/isa/column_strategy.h"
#include "core/cpu/isa/isa.h"  // once per instruction set
#include "core/cpu/isa/row_strategy.h"
#include "core/cpu/order_keys.h"
#include "core/cpu/topk_kernel.h"
#include "core/dtype.h"
#include "core/op_plans.h"
#include "core/tensor.h"

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

template <DType D>
void TopKTyped(const Tensor& input, const TopKPlan& plan, bool largest,
               bool sorted, Tensor& values, Tensor& indices) {
  using Traits = KeyTraits<D>;
  using Key = typename Traits::KeyType;
  const Key flip = largest ? Key{0} : ~Key{0};
  int64_t* out_indices = reinterpret_cast<int64_t*>(indices.mutable_data());
  if (plan.input.inner == 1) {
    TopKRows<Traits>(plan, flip, sorted, input.data(), values.mutable_data(),
                     out_indices);
  } else {
    TopKColumns<Traits>(plan, flip, sorted, input.data(), values.mutable_data(),
                        out_indices);
  }
}

template <DType D>
bool TopKTypedChunked(const ChunkedTensor& input, const TopKPlan& plan,
                      bool largest, bool sorted, Tensor& values,
                      Tensor& indices) {
  using Traits = KeyTraits<D>;
  using Key = typename Traits::KeyType;
  const int64_t row_bytes = plan.input.size * Traits::kSize;
  if (plan.input.inner != 1 || row_bytes > kMaxGatheredRowBytes ||
      !SelectsWholeRows(plan.input.outer, plan.input.size,
                        tbb::this_task_arena::max_concurrency())) {
    return false;
  }
  const Key flip = largest ? Key{0} : ~Key{0};
  TopKWholeRows<Traits>(
      plan, flip, sorted,
      [&] { return GatheredRows(input.bytes(), row_bytes); },
      values.mutable_data(),
      reinterpret_cast<int64_t*>(indices.mutable_data()));
  return true;
}

}  // namespace

bool TopKKernelChunked(const ChunkedTensor& input, const TopKPlan& plan,
                       bool largest, bool sorted, Tensor& values,
                       Tensor& indices) {
  switch (input.dtype()) {
#define TENSOROPS_TOPK_CASE(enumerator, ...)                                 \
  case DType::enumerator:                                                    \
    return TopKTypedChunked<DType::enumerator>(input, plan, largest, sorted, \
                                               values, indices);
    TENSOROPS_FOR_EACH_NUMERIC_DTYPE(TENSOROPS_TOPK_CASE)
#undef TENSOROPS_TOPK_CASE
    case DType::kBool:
      return false;  // rejected by PlanTopK
  }
  return false;
}

void TopKKernel(const Tensor& input, const TopKPlan& plan, bool largest,
                bool sorted, Tensor& values, Tensor& indices) {
  switch (input.dtype()) {
#define TENSOROPS_TOPK_CASE(enumerator, ...)                           \
  case DType::enumerator:                                              \
    TopKTyped<DType::enumerator>(input, plan, largest, sorted, values, \
                                 indices);                             \
    return;
    TENSOROPS_FOR_EACH_NUMERIC_DTYPE(TENSOROPS_TOPK_CASE)
#undef TENSOROPS_TOPK_CASE
    case DType::kBool:
      return;  // rejected by PlanTopK
  }
}

}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_TOPK_DISPATCH_H_
