#include "core/cpu/topk_kernel.h"

namespace tensorops::cpu {
namespace generic {
void TopKKernel(const Tensor& input, const TopKPlan& plan, bool largest,
                bool sorted, Tensor& values, Tensor& indices);
bool TopKKernelChunked(const ChunkedTensor& input, const TopKPlan& plan,
                       bool largest, bool sorted, Tensor& values,
                       Tensor& indices);
}  // namespace generic
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
namespace avx2 {
void TopKKernel(const Tensor& input, const TopKPlan& plan, bool largest,
                bool sorted, Tensor& values, Tensor& indices);
bool TopKKernelChunked(const ChunkedTensor& input, const TopKPlan& plan,
                       bool largest, bool sorted, Tensor& values,
                       Tensor& indices);
}  // namespace avx2
#endif

namespace {

using KernelFn = void (*)(const Tensor&, const TopKPlan&, bool, bool, Tensor&,
                          Tensor&);
using ChunkedKernelFn = bool (*)(const ChunkedTensor&, const TopKPlan&, bool,
                                 bool, Tensor&, Tensor&);

bool HasAvx2() {
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
#else
  return false;
#endif
}

KernelFn PickKernel() {
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
  if (HasAvx2()) return &avx2::TopKKernel;
#endif
  return &generic::TopKKernel;
}

ChunkedKernelFn PickChunkedKernel() {
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
  if (HasAvx2()) return &avx2::TopKKernelChunked;
#endif
  return &generic::TopKKernelChunked;
}

}  // namespace

void TopKKernel(const Tensor& input, const TopKPlan& plan, bool largest,
                bool sorted, Tensor& values, Tensor& indices) {
  if (plan.k == 0 || values.num_elements() == 0) return;
  static const KernelFn kernel = PickKernel();
  kernel(input, plan, largest, sorted, values, indices);
}

bool TopKKernelChunked(const ChunkedTensor& input, const TopKPlan& plan,
                       bool largest, bool sorted, Tensor& values,
                       Tensor& indices) {
  if (plan.k == 0 || values.num_elements() == 0) return true;
  static const ChunkedKernelFn kernel = PickChunkedKernel();
  return kernel(input, plan, largest, sorted, values, indices);
}

}  // namespace tensorops::cpu
