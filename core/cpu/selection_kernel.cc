#include "core/cpu/selection_kernel.h"

#include "core/cpu/cpu_features.h"

namespace tensorops::cpu {
// The entry point each instruction set's translation unit defines
// (core/cpu/selection_kernel_<isa>.cc, from core/cpu/isa/selection_dispatch.h).
#define TENSOROPS_DECLARE_SELECTION_KERNEL_(isa)                       \
  namespace isa {                                                      \
  void SelectionKernel(const Tensor& input, const SelectionPlan& plan, \
                       Tensor& values, Tensor& indices);               \
  }
TENSOROPS_DECLARE_SELECTION_KERNEL_(generic)
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
TENSOROPS_DECLARE_SELECTION_KERNEL_(avx2)
#endif
#if defined(TENSOROPS_HAVE_AVX512_KERNELS)
TENSOROPS_DECLARE_SELECTION_KERNEL_(avx512)
#endif
#undef TENSOROPS_DECLARE_SELECTION_KERNEL_

namespace {

using KernelFn = decltype(&generic::SelectionKernel);

KernelFn PickKernel() {
  switch (ChosenKernelIsa()) {
#if defined(TENSOROPS_HAVE_AVX512_KERNELS)
    case KernelIsa::kAvx512:
      return &avx512::SelectionKernel;
#endif
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
    case KernelIsa::kAvx2:
      return &avx2::SelectionKernel;
#endif
    default:
      return &generic::SelectionKernel;
  }
}

}  // namespace

void SelectionKernel(const Tensor& input, const SelectionPlan& plan,
                     Tensor& values, Tensor& indices) {
  if (values.num_elements() == 0) return;
  static const KernelFn kernel = PickKernel();
  kernel(input, plan, values, indices);
}

}  // namespace tensorops::cpu
