#include "core/cpu/topk_kernel.h"

#include "core/cpu/cpu_features.h"

namespace tensorops::cpu {
// The entry points each instruction set's translation unit defines
// (core/cpu/topk_kernel_<isa>.cc, from core/cpu/isa/topk_dispatch.h).
#define TENSOROPS_DECLARE_TOPK_KERNELS_(isa)                               \
  namespace isa {                                                          \
  void TopKKernel(const Tensor& input, const TopKPlan& plan, bool largest, \
                  bool sorted, Tensor& values, Tensor& indices);           \
  bool TopKKernelChunked(const ChunkedTensor& input, const TopKPlan& plan, \
                         bool largest, bool sorted, Tensor& values,        \
                         Tensor& indices);                                 \
  }
TENSOROPS_DECLARE_TOPK_KERNELS_(generic)
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
TENSOROPS_DECLARE_TOPK_KERNELS_(avx2)
#endif
#if defined(TENSOROPS_HAVE_AVX512_KERNELS)
TENSOROPS_DECLARE_TOPK_KERNELS_(avx512)
#endif
#undef TENSOROPS_DECLARE_TOPK_KERNELS_

namespace {

using KernelFn = decltype(&generic::TopKKernel);
using ChunkedKernelFn = decltype(&generic::TopKKernelChunked);

KernelFn PickKernel() {
  switch (ChosenKernelIsa()) {
#if defined(TENSOROPS_HAVE_AVX512_KERNELS)
    case KernelIsa::kAvx512:
      return &avx512::TopKKernel;
#endif
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
    case KernelIsa::kAvx2:
      return &avx2::TopKKernel;
#endif
    default:
      return &generic::TopKKernel;
  }
}

ChunkedKernelFn PickChunkedKernel() {
  switch (ChosenKernelIsa()) {
#if defined(TENSOROPS_HAVE_AVX512_KERNELS)
    case KernelIsa::kAvx512:
      return &avx512::TopKKernelChunked;
#endif
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
    case KernelIsa::kAvx2:
      return &avx2::TopKKernelChunked;
#endif
    default:
      return &generic::TopKKernelChunked;
  }
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
