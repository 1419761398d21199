// Launchers of the CUDA kernels, callable from plain C++ (no nvcc needed to
// include this header). Every pointer is device memory unless noted; each
// launcher only enqueues work on `stream` and returns the first CUDA error.
#ifndef TENSOROPS_CORE_CUDA_KERNELS_H_
#define TENSOROPS_CORE_CUDA_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype_list.h"

namespace tensorops::cuda {

// The dtypes topk handles (TENSOROPS_FOR_EACH_NUMERIC_DTYPE: every DType but
// bool, with DType's enumerator names), kept separate from tensorops::DType
// so that nvcc never parses Abseil headers.
enum class KernelDType : int {
#define TENSOROPS_KERNEL_DTYPE_(enumerator, ...) enumerator,
  TENSOROPS_FOR_EACH_NUMERIC_DTYPE(TENSOROPS_KERNEL_DTYPE_)
#undef TENSOROPS_KERNEL_DTYPE_
};

// A row-major tensor seen as [outer, size, inner] around the topk dimension;
// `k` is the extent of the selected (or gradient) tensor along it.
struct SliceGeometry {
  int64_t outer = 1;
  int64_t size = 1;
  int64_t inner = 1;
  int64_t k = 0;
  int64_t slices() const { return outer * inner; }
};

// Scratch device memory for one launch sequence, valid until the stream's
// work is done; the caller frees it.
class ScratchAllocator {
 public:
  virtual ~ScratchAllocator() = default;
  virtual cudaError_t Allocate(size_t bytes, void** pointer) = 0;
};

// Writes `num_elements` copies of the low `element_size` bytes of `bits`
// (element_size 1, 2, 4 or 8).
cudaError_t LaunchFill(void* out, int64_t num_elements, int element_size,
                       uint64_t bits, cudaStream_t stream);

// torch.topk along the middle of `geometry`: `values` (input's dtype) and
// `indices` (int64) have shape [outer, k, inner]. Radix select on rank keys
// (core/cuda/device_keys.h), then the k winners in index order, then a stable
// sort by key when `sorted`. `max_blocks` bounds the blocks one slice may be
// split across (several for few long slices). Requires 0 < k <= size.
cudaError_t LaunchTopK(KernelDType dtype, const void* input,
                       const SliceGeometry& geometry, bool largest, bool sorted,
                       int max_blocks, void* values, int64_t* indices,
                       ScratchAllocator& scratch, cudaStream_t stream);

// grad_input ([outer, size, inner], zero-filled by the caller) receives
// grad ([outer, k, inner]) at `indices`; within a slice the last index in
// memory order wins. Indices outside [0, size) are skipped and the smallest
// flat position of one is atomically min-ed into *first_bad (which the
// caller initialises to INT64_MAX).
cudaError_t LaunchScatter(int element_size, const void* grad,
                          const int64_t* indices, const SliceGeometry& geometry,
                          void* grad_input, unsigned long long* first_bad,
                          cudaStream_t stream);

}  // namespace tensorops::cuda

#endif  // TENSOROPS_CORE_CUDA_KERNELS_H_
