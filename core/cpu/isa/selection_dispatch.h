// The selection kernels' entry point for one instruction set: dispatch on
// the kind and the dtype (every dtype; PlanSelection refuses bool for
// kthvalue and median). Defines TENSOROPS_CPU_ISA::SelectionKernel, which
// core/cpu/selection_kernel.cc picks from at run time.
#ifndef TENSOROPS_CORE_CPU_ISA_SELECTION_DISPATCH_H_
#define TENSOROPS_CORE_CPU_ISA_SELECTION_DISPATCH_H_

#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/cpu/isa/extreme_scan.h"
#include "core/cpu/isa/isa.h"  // once per instruction set
#include "core/cpu/isa/selection_slices.h"
#include "core/cpu/order_keys.h"
#include "core/cpu/selection_kernel.h"
#include "core/dtype.h"
#include "core/op_plans.h"
#include "core/tensor.h"

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

template <DType D>
void SelectTyped(const Tensor& input, const SelectionPlan& plan, Tensor& values,
                 Tensor& indices) {
  using Traits = KeyTraits<D>;
  using Key = typename Traits::KeyType;
  const std::byte* in = input.data();
  std::byte* out_values = values.mutable_data();
  int64_t* out_indices = reinterpret_cast<int64_t*>(indices.mutable_data());
  switch (plan.kind) {
    case SelectionKind::kSort:
      if (std::is_same_v<Key, int32_t> &&
          plan.input.size > std::numeric_limits<uint32_t>::max()) {
        SortSlices<Traits, int64_t>(plan, in, out_values, out_indices);
      } else {
        SortSlices<Traits, Key>(plan, in, out_values, out_indices);
      }
      return;
    case SelectionKind::kKthValue:
    case SelectionKind::kMedian:
      RankSlices<Traits>(plan, in, out_values, out_indices);
      return;
    case SelectionKind::kMax:
      ExtremeSlices<Traits, false>(plan, in, out_values, out_indices);
      return;
    case SelectionKind::kMin:
      ExtremeSlices<Traits, true>(plan, in, out_values, out_indices);
      return;
  }
}

}  // namespace

void SelectionKernel(const Tensor& input, const SelectionPlan& plan,
                     Tensor& values, Tensor& indices) {
  switch (input.dtype()) {
#define TENSOROPS_SELECTION_CASE(enumerator, ...)                 \
  case DType::enumerator:                                         \
    SelectTyped<DType::enumerator>(input, plan, values, indices); \
    return;
    TENSOROPS_FOR_EACH_DTYPE(TENSOROPS_SELECTION_CASE)
#undef TENSOROPS_SELECTION_CASE
  }
}

}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_SELECTION_DISPATCH_H_
