#include "core/cpu/topk_kernel.h"

namespace tensorops::cpu {
namespace generic {
void TopKKernel(const Tensor& input, const TopKPlan& plan, bool largest,
                bool sorted, Tensor& values, Tensor& indices);
}  // namespace generic
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
namespace avx2 {
void TopKKernel(const Tensor& input, const TopKPlan& plan, bool largest,
                bool sorted, Tensor& values, Tensor& indices);
}  // namespace avx2
#endif

namespace {

using KernelFn = void (*)(const Tensor&, const TopKPlan&, bool, bool, Tensor&,
                          Tensor&);

KernelFn PickKernel() {
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2")) {
    return &avx2::TopKKernel;
  }
#endif
  return &generic::TopKKernel;
}

}  // namespace

void TopKKernel(const Tensor& input, const TopKPlan& plan, bool largest,
                bool sorted, Tensor& values, Tensor& indices) {
  if (plan.k == 0 || values.num_elements() == 0) return;
  static const KernelFn kernel = PickKernel();
  kernel(input, plan, largest, sorted, values, indices);
}

}  // namespace tensorops::cpu
