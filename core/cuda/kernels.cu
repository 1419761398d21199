// CUDA kernels: fill, topk by radix select, and the topk backward scatter.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_segmented_sort.cuh>
#include <type_traits>

#include "core/cuda/device_keys.h"
#include "core/cuda/kernels.h"

namespace tensorops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kRadixBits = 8;
constexpr int kRadixBins = 1 << kRadixBits;
// Grid-stride kernels use at most this many blocks.
constexpr int64_t kMaxGridStrideBlocks = int64_t{1} << 16;
// A slice is split across blocks only in chunks at least this long.
constexpr int64_t kMinChunk = 4096;

int GridFor(int64_t n) {
  return static_cast<int>(std::max<int64_t>(
      1, std::min((n + kThreads - 1) / kThreads, kMaxGridStrideBlocks)));
}

// The unsigned integer type of kSize bytes (1, 2, 4 or 8): the scatter moves
// elements as bits.
template <int kSize>
using UIntOfSize = std::conditional_t<
    kSize == 1, uint8_t,
    std::conditional_t<kSize == 2, uint16_t,
                       std::conditional_t<kSize == 4, uint32_t, uint64_t>>>;

__device__ __forceinline__ int64_t MinInt64(int64_t a, int64_t b) {
  return a < b ? a : b;
}

// Where flat element t of slices `length` long, counted slice by slice
// (slice s = o * inner + i), sits: outer index o, place j in its slice and
// inner index i.
struct SlicePlace {
  int64_t o;
  int64_t j;
  int64_t i;
};
__device__ __forceinline__ SlicePlace PlaceOf(int64_t t, int64_t length,
                                              int64_t inner) {
  const int64_t s = t / length;
  const int64_t o = s / inner;
  return SlicePlace{o, t - s * length, s - o * inner};
}

// ---- fill -----------------------------------------------------------------

template <typename T>
__global__ void FillKernel(T* out, int64_t n, T value) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = value;
  }
}

template <typename T>
cudaError_t Fill(void* out, int64_t n, uint64_t bits, cudaStream_t stream) {
  FillKernel<T><<<GridFor(n), kThreads, 0, stream>>>(static_cast<T*>(out), n,
                                                     static_cast<T>(bits));
  return cudaGetLastError();
}

// ---- topk -----------------------------------------------------------------

// Per-slice radix select state: the bits of the k-th best rank key decided so
// far (`prefix` under `mask`) and how many of the elements matching them are
// still to be taken.
template <typename R>
struct SelectState {
  R prefix;
  R mask;
  int64_t remaining;
};

// ranks[s * size + j] = rank key of element j of slice s, slices laid out
// contiguously whatever the input's dim was (the transpose happens here).
template <typename Tag>
__global__ void RankKernel(const typename RankTraits<Tag>::Storage* input,
                           SliceGeometry g, bool largest,
                           typename RankTraits<Tag>::Rank* ranks) {
  const int64_t n = g.outer * g.inner * g.size;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
       t += int64_t{gridDim.x} * blockDim.x) {
    const SlicePlace p = PlaceOf(t, g.size, g.inner);
    ranks[t] = RankTraits<Tag>::Of(input[(p.o * g.size + p.j) * g.inner + p.i],
                                   largest);
  }
}

template <typename R>
__global__ void InitSelectKernel(SelectState<R>* states, int64_t slices,
                                 int64_t k) {
  for (int64_t s = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; s < slices;
       s += int64_t{gridDim.x} * blockDim.x) {
    states[s] = SelectState<R>{R{0}, R{0}, k};
  }
}

// Block b handles part b % parts of slice b / parts: counts the digits at
// `shift` of the elements that match the slice's prefix so far.
template <typename R>
__global__ void HistogramKernel(const R* ranks, int64_t size, int64_t parts,
                                int64_t chunk, const SelectState<R>* states,
                                int shift, unsigned long long* histograms) {
  __shared__ unsigned int local[kRadixBins];
  for (int b = threadIdx.x; b < kRadixBins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  const int64_t s = blockIdx.x / parts;
  const int64_t part = blockIdx.x - s * parts;
  const int64_t begin = part * chunk;
  const int64_t end = MinInt64(size, begin + chunk);
  const SelectState<R> state = states[s];
  const R* row = ranks + s * size;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    const R r = row[j];
    if ((r & state.mask) == state.prefix) {
      atomicAdd(&local[(r >> shift) & (kRadixBins - 1)], 1u);
    }
  }
  __syncthreads();
  unsigned long long* histogram = histograms + s * kRadixBins;
  for (int b = threadIdx.x; b < kRadixBins; b += blockDim.x) {
    if (local[b] != 0) atomicAdd(&histogram[b], local[b]);
  }
}

// One thread per slice: picks the digit holding the `remaining`-th best
// element, counting from the highest digit, and clears the histogram.
template <typename R>
__global__ void ChooseDigitKernel(SelectState<R>* states, int64_t slices,
                                  int shift, unsigned long long* histograms) {
  for (int64_t s = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; s < slices;
       s += int64_t{gridDim.x} * blockDim.x) {
    SelectState<R> state = states[s];
    unsigned long long* histogram = histograms + s * kRadixBins;
    int64_t remaining = state.remaining;
    int chosen = 0;
    for (int b = kRadixBins - 1; b >= 0; --b) {
      const int64_t count = static_cast<int64_t>(histogram[b]);
      if (count >= remaining) {
        chosen = b;
        break;
      }
      remaining -= count;
    }
    for (int b = 0; b < kRadixBins; ++b) histogram[b] = 0;
    state.prefix |= static_cast<R>(chosen) << shift;
    state.mask |= static_cast<R>(kRadixBins - 1) << shift;
    state.remaining = remaining;
    states[s] = state;
  }
}

// After the last pass `prefix` is the k-th best key and `remaining` the
// number of elements equal to it that are kept (the lowest-index ones).
// Counts, per block, the elements better than it and equal to it.
template <typename R>
__global__ void CountWinnersKernel(const R* ranks, int64_t size, int64_t parts,
                                   int64_t chunk, const SelectState<R>* states,
                                   int64_t* greater_counts,
                                   int64_t* tie_counts) {
  __shared__ unsigned long long greater;
  __shared__ unsigned long long ties;
  if (threadIdx.x == 0) {
    greater = 0;
    ties = 0;
  }
  __syncthreads();
  const int64_t s = blockIdx.x / parts;
  const int64_t part = blockIdx.x - s * parts;
  const int64_t begin = part * chunk;
  const int64_t end = MinInt64(size, begin + chunk);
  const R kth = states[s].prefix;
  const R* row = ranks + s * size;
  unsigned long long my_greater = 0;
  unsigned long long my_ties = 0;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    const R r = row[j];
    my_greater += r > kth;
    my_ties += r == kth;
  }
  if (my_greater != 0) atomicAdd(&greater, my_greater);
  if (my_ties != 0) atomicAdd(&ties, my_ties);
  __syncthreads();
  if (threadIdx.x == 0) {
    greater_counts[blockIdx.x] = static_cast<int64_t>(greater);
    tie_counts[blockIdx.x] = static_cast<int64_t>(ties);
  }
}

// One thread per slice: exclusive prefix sums of the per-part counts.
__global__ void ScanPartsKernel(int64_t slices, int64_t parts,
                                int64_t* greater_counts, int64_t* tie_counts) {
  for (int64_t s = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; s < slices;
       s += int64_t{gridDim.x} * blockDim.x) {
    int64_t greater = 0;
    int64_t ties = 0;
    for (int64_t p = s * parts; p < (s + 1) * parts; ++p) {
      const int64_t g = greater_counts[p];
      const int64_t t = tie_counts[p];
      greater_counts[p] = greater;
      tie_counts[p] = ties;
      greater += g;
      ties += t;
    }
  }
}

// Writes the winners among row[begin, end) in increasing index order: every
// element better than the k-th (`kth`), and the first `ties_kept` equal to
// it. A winner's position is the number of winners before it in the slice:
// greater_before + min(ties_before, ties_kept), counted from the slice start
// (the caller passes the counts of the elements before `begin`). Called by
// all threads of a block of kThreads.
template <typename R, typename Scan>
__device__ void GatherWinners(const R* row, int64_t begin, int64_t end, R kth,
                              int64_t ties_kept, int64_t greater_before,
                              int64_t ties_before,
                              typename Scan::TempStorage& scan_storage,
                              R* win_ranks, int64_t* win_indices) {
  for (int64_t tile = begin; tile < end; tile += blockDim.x) {
    const int64_t j = tile + threadIdx.x;
    R r = 0;
    bool is_greater = false;
    bool is_tie = false;
    if (j < end) {
      r = row[j];
      is_greater = r > kth;
      is_tie = r == kth;
    }
    // Both counts in one scan: greater in the high 32 bits, ties in the low.
    const unsigned long long flags =
        (static_cast<unsigned long long>(is_greater) << 32) | is_tie;
    unsigned long long before = 0;
    unsigned long long total = 0;
    Scan(scan_storage).ExclusiveSum(flags, before, total);
    const int64_t my_greater =
        greater_before + static_cast<int64_t>(before >> 32);
    const int64_t my_ties =
        ties_before + static_cast<int64_t>(before & 0xffffffffull);
    if (is_greater || (is_tie && my_ties < ties_kept)) {
      const int64_t position = my_greater + MinInt64(my_ties, ties_kept);
      win_ranks[position] = r;
      win_indices[position] = j;
    }
    greater_before += static_cast<int64_t>(total >> 32);
    ties_before += static_cast<int64_t>(total & 0xffffffffull);
    __syncthreads();  // scan_storage is reused by the next tile
  }
}

// The multi-block path's gather: block b writes the winners of its part.
template <typename R>
__global__ void GatherWinnersKernel(const R* ranks, int64_t size, int64_t k,
                                    int64_t parts, int64_t chunk,
                                    const SelectState<R>* states,
                                    const int64_t* greater_offsets,
                                    const int64_t* tie_offsets, R* win_ranks,
                                    int64_t* win_indices) {
  using Scan = cub::BlockScan<unsigned long long, kThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  const int64_t s = blockIdx.x / parts;
  const int64_t part = blockIdx.x - s * parts;
  const int64_t begin = part * chunk;
  const int64_t end = MinInt64(size, begin + chunk);
  GatherWinners<R, Scan>(ranks + s * size, begin, end, states[s].prefix,
                         states[s].remaining, greater_offsets[blockIdx.x],
                         tie_offsets[blockIdx.x], scan_storage,
                         win_ranks + s * k, win_indices + s * k);
}

// The one-block-per-slice path (many slices): the whole radix select with
// the histogram in shared memory, then the gather, in one kernel.
template <typename R>
__global__ void SelectSliceKernel(const R* ranks, int64_t size, int64_t k,
                                  R* win_ranks, int64_t* win_indices) {
  using Scan = cub::BlockScan<unsigned long long, kThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ unsigned int histogram[kRadixBins];
  __shared__ SelectState<R> state;
  const int64_t s = blockIdx.x;
  const R* row = ranks + s * size;
  if (threadIdx.x == 0) state = SelectState<R>{R{0}, R{0}, k};
  for (int shift = static_cast<int>(sizeof(R)) * 8 - kRadixBits; shift >= 0;
       shift -= kRadixBits) {
    for (int b = threadIdx.x; b < kRadixBins; b += blockDim.x) {
      histogram[b] = 0;
    }
    __syncthreads();
    const R prefix = state.prefix;
    const R mask = state.mask;
    for (int64_t j = threadIdx.x; j < size; j += blockDim.x) {
      const R r = row[j];
      if ((r & mask) == prefix) {
        atomicAdd(&histogram[(r >> shift) & (kRadixBins - 1)], 1u);
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int64_t remaining = state.remaining;
      int chosen = 0;
      for (int b = kRadixBins - 1; b >= 0; --b) {
        const int64_t count = histogram[b];
        if (count >= remaining) {
          chosen = b;
          break;
        }
        remaining -= count;
      }
      state.prefix |= static_cast<R>(chosen) << shift;
      state.mask |= static_cast<R>(kRadixBins - 1) << shift;
      state.remaining = remaining;
    }
    __syncthreads();
  }
  GatherWinners<R, Scan>(row, 0, size, state.prefix, state.remaining, 0, 0,
                         scan_storage, win_ranks + s * k, win_indices + s * k);
}

__global__ void SegmentOffsetsKernel(int64_t* offsets, int64_t slices,
                                     int64_t k) {
  for (int64_t s = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; s <= slices;
       s += int64_t{gridDim.x} * blockDim.x) {
    offsets[s] = s * k;
  }
}

// values/indices [outer, k, inner] from the winners' indices [slices, k];
// values are the input elements' bits.
template <typename T>
__global__ void WriteOutputKernel(const T* input, SliceGeometry g,
                                  const int64_t* win_indices, T* values,
                                  int64_t* indices) {
  const int64_t n = g.outer * g.inner * g.k;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
       t += int64_t{gridDim.x} * blockDim.x) {
    const SlicePlace p = PlaceOf(t, g.k, g.inner);
    const int64_t index = win_indices[t];
    const int64_t out = (p.o * g.k + p.j) * g.inner + p.i;
    values[out] = input[(p.o * g.size + index) * g.inner + p.i];
    indices[out] = index;
  }
}

#define TENSOROPS_CUDA_TRY(expr)                        \
  do {                                                  \
    const cudaError_t cuda_error_ = (expr);             \
    if (cuda_error_ != cudaSuccess) return cuda_error_; \
  } while (0)

template <typename T>
cudaError_t Allocate(ScratchAllocator& scratch, int64_t count, T** pointer) {
  return scratch.Allocate(
      static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T),
      reinterpret_cast<void**>(pointer));
}

template <typename Tag>
cudaError_t TopKTyped(const void* input, const SliceGeometry& g, bool largest,
                      bool sorted, int max_blocks, void* values,
                      int64_t* indices, ScratchAllocator& scratch,
                      cudaStream_t stream) {
  using Storage = typename RankTraits<Tag>::Storage;
  using R = typename RankTraits<Tag>::Rank;
  const int64_t slices = g.slices();
  const int64_t n = slices * g.size;

  R* ranks = nullptr;
  TENSOROPS_CUDA_TRY(Allocate(scratch, n, &ranks));
  RankKernel<Tag><<<GridFor(n), kThreads, 0, stream>>>(
      static_cast<const Storage*>(input), g, largest, ranks);
  TENSOROPS_CUDA_TRY(cudaGetLastError());

  // Few long slices are split across blocks so the whole GPU works on them.
  const int64_t wanted_parts = (max_blocks + slices - 1) / slices;
  const int64_t max_parts = (g.size + kMinChunk - 1) / kMinChunk;
  const int64_t parts = std::max<int64_t>(1, std::min(wanted_parts, max_parts));
  const int64_t chunk = (g.size + parts - 1) / parts;
  const int64_t blocks = slices * parts;
  if (blocks > INT_MAX) return cudaErrorInvalidConfiguration;

  const int64_t selected = slices * g.k;
  R* win_ranks = nullptr;
  int64_t* win_indices = nullptr;
  TENSOROPS_CUDA_TRY(Allocate(scratch, selected, &win_ranks));
  TENSOROPS_CUDA_TRY(Allocate(scratch, selected, &win_indices));
  if (parts == 1) {
    SelectSliceKernel<R><<<static_cast<int>(blocks), kThreads, 0, stream>>>(
        ranks, g.size, g.k, win_ranks, win_indices);
    TENSOROPS_CUDA_TRY(cudaGetLastError());
  } else {
    // Few slices (parts > 1 only when slices < max_blocks): the select runs
    // pass by pass across blocks, with per-slice histograms in global
    // memory.
    SelectState<R>* states = nullptr;
    unsigned long long* histograms = nullptr;
    TENSOROPS_CUDA_TRY(Allocate(scratch, slices, &states));
    TENSOROPS_CUDA_TRY(Allocate(scratch, slices * kRadixBins, &histograms));
    TENSOROPS_CUDA_TRY(cudaMemsetAsync(
        histograms, 0, sizeof(unsigned long long) * slices * kRadixBins,
        stream));
    InitSelectKernel<R>
        <<<GridFor(slices), kThreads, 0, stream>>>(states, slices, g.k);
    TENSOROPS_CUDA_TRY(cudaGetLastError());
    for (int shift = static_cast<int>(sizeof(R)) * 8 - kRadixBits; shift >= 0;
         shift -= kRadixBits) {
      HistogramKernel<R><<<static_cast<int>(blocks), kThreads, 0, stream>>>(
          ranks, g.size, parts, chunk, states, shift, histograms);
      TENSOROPS_CUDA_TRY(cudaGetLastError());
      ChooseDigitKernel<R><<<GridFor(slices), kThreads, 0, stream>>>(
          states, slices, shift, histograms);
      TENSOROPS_CUDA_TRY(cudaGetLastError());
    }
    int64_t* greater_counts = nullptr;
    int64_t* tie_counts = nullptr;
    TENSOROPS_CUDA_TRY(Allocate(scratch, blocks, &greater_counts));
    TENSOROPS_CUDA_TRY(Allocate(scratch, blocks, &tie_counts));
    CountWinnersKernel<R><<<static_cast<int>(blocks), kThreads, 0, stream>>>(
        ranks, g.size, parts, chunk, states, greater_counts, tie_counts);
    TENSOROPS_CUDA_TRY(cudaGetLastError());
    ScanPartsKernel<<<GridFor(slices), kThreads, 0, stream>>>(
        slices, parts, greater_counts, tie_counts);
    TENSOROPS_CUDA_TRY(cudaGetLastError());
    GatherWinnersKernel<R><<<static_cast<int>(blocks), kThreads, 0, stream>>>(
        ranks, g.size, g.k, parts, chunk, states, greater_counts, tie_counts,
        win_ranks, win_indices);
    TENSOROPS_CUDA_TRY(cudaGetLastError());
  }

  const int64_t* final_indices = win_indices;
  if (sorted && g.k > 1) {
    // Stable, so equal keys keep the increasing index order of the gather.
    int64_t* offsets = nullptr;
    R* sorted_ranks = nullptr;
    int64_t* sorted_indices = nullptr;
    TENSOROPS_CUDA_TRY(Allocate(scratch, slices + 1, &offsets));
    TENSOROPS_CUDA_TRY(Allocate(scratch, selected, &sorted_ranks));
    TENSOROPS_CUDA_TRY(Allocate(scratch, selected, &sorted_indices));
    SegmentOffsetsKernel<<<GridFor(slices + 1), kThreads, 0, stream>>>(
        offsets, slices, g.k);
    TENSOROPS_CUDA_TRY(cudaGetLastError());
    size_t temp_bytes = 0;
    TENSOROPS_CUDA_TRY(cub::DeviceSegmentedSort::StableSortPairsDescending(
        nullptr, temp_bytes, win_ranks, sorted_ranks, win_indices,
        sorted_indices, selected, slices, offsets, offsets + 1, stream));
    void* temp = nullptr;
    TENSOROPS_CUDA_TRY(
        scratch.Allocate(std::max<size_t>(temp_bytes, 1), &temp));
    TENSOROPS_CUDA_TRY(cub::DeviceSegmentedSort::StableSortPairsDescending(
        temp, temp_bytes, win_ranks, sorted_ranks, win_indices, sorted_indices,
        selected, slices, offsets, offsets + 1, stream));
    final_indices = sorted_indices;
  }

  WriteOutputKernel<Storage><<<GridFor(selected), kThreads, 0, stream>>>(
      static_cast<const Storage*>(input), g, final_indices,
      static_cast<Storage*>(values), indices);
  return cudaGetLastError();
}

// ---- backward scatter -----------------------------------------------------

// One thread per slice walks its k gradients in memory order, so a repeated
// index deterministically keeps the last one, as on the CPU.
template <typename T>
__global__ void ScatterKernel(const T* grad, const int64_t* indices,
                              SliceGeometry g, T* grad_input,
                              unsigned long long* first_bad) {
  const int64_t slices = g.outer * g.inner;
  for (int64_t s = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; s < slices;
       s += int64_t{gridDim.x} * blockDim.x) {
    const int64_t o = s / g.inner;
    const int64_t i = s - o * g.inner;
    for (int64_t j = 0; j < g.k; ++j) {
      const int64_t from = (o * g.k + j) * g.inner + i;
      const int64_t index = indices[from];
      if (index < 0 || index >= g.size) {
        atomicMin(first_bad, static_cast<unsigned long long>(from));
        continue;
      }
      grad_input[(o * g.size + index) * g.inner + i] = grad[from];
    }
  }
}

}  // namespace

cudaError_t LaunchFill(void* out, int64_t num_elements, int element_size,
                       uint64_t bits, cudaStream_t stream) {
  if (num_elements == 0) return cudaSuccess;
  switch (element_size) {
    case 1:
      return Fill<uint8_t>(out, num_elements, bits, stream);
    case 2:
      return Fill<uint16_t>(out, num_elements, bits, stream);
    case 4:
      return Fill<uint32_t>(out, num_elements, bits, stream);
    case 8:
      return Fill<uint64_t>(out, num_elements, bits, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

cudaError_t LaunchTopK(KernelDType dtype, const void* input,
                       const SliceGeometry& geometry, bool largest, bool sorted,
                       int max_blocks, void* values, int64_t* indices,
                       ScratchAllocator& scratch, cudaStream_t stream) {
  if (geometry.k <= 0 || geometry.k > geometry.size || geometry.slices() == 0) {
    return cudaErrorInvalidValue;
  }
  switch (dtype) {
#define TENSOROPS_TOPK_CASE(dt, tag)                                    \
  case KernelDType::dt:                                                 \
    return TopKTyped<tag>(input, geometry, largest, sorted, max_blocks, \
                          values, indices, scratch, stream);
    TENSOROPS_TOPK_CASE(kFloat32, Float32Tag)
    TENSOROPS_TOPK_CASE(kFloat64, Float64Tag)
    TENSOROPS_TOPK_CASE(kFloat16, Float16Tag)
    TENSOROPS_TOPK_CASE(kBFloat16, BFloat16Tag)
    TENSOROPS_TOPK_CASE(kInt8, Int8Tag)
    TENSOROPS_TOPK_CASE(kInt16, Int16Tag)
    TENSOROPS_TOPK_CASE(kInt32, Int32Tag)
    TENSOROPS_TOPK_CASE(kInt64, Int64Tag)
    TENSOROPS_TOPK_CASE(kUInt8, UInt8Tag)
#undef TENSOROPS_TOPK_CASE
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchScatter(int element_size, const void* grad,
                          const int64_t* indices, const SliceGeometry& geometry,
                          void* grad_input, unsigned long long* first_bad,
                          cudaStream_t stream) {
  const int64_t slices = geometry.slices();
  if (slices == 0 || geometry.k == 0) return cudaSuccess;
  const int grid = GridFor(slices);
  switch (element_size) {
#define TENSOROPS_SCATTER_CASE(bytes)                   \
  case bytes: {                                         \
    using T = UIntOfSize<bytes>;                        \
    ScatterKernel<T><<<grid, kThreads, 0, stream>>>(    \
        static_cast<const T*>(grad), indices, geometry, \
        static_cast<T*>(grad_input), first_bad);        \
    return cudaGetLastError();                          \
  }
    TENSOROPS_SCATTER_CASE(2)
    TENSOROPS_SCATTER_CASE(4)
    TENSOROPS_SCATTER_CASE(8)
#undef TENSOROPS_SCATTER_CASE
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace tensorops::cuda
