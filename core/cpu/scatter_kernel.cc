#include "core/cpu/scatter_kernel.h"

#include <tbb/blocked_range.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "core/cpu/fill_kernel.h"
#include "core/cpu/parallel_rows.h"

namespace tensorops::cpu {
namespace {

// Lowers `lowest` (-1: none yet) to `position`, from any thread: the error
// names the first bad index in memory order whichever task finds it.
void KeepLowest(std::atomic<int64_t>& lowest, int64_t position) {
  int64_t seen = lowest.load();
  while ((seen == -1 || position < seen) &&
         !lowest.compare_exchange_weak(seen, position)) {
  }
}

constexpr int64_t kElementsPerTask = 16384;

template <size_t kSize>
int64_t ScatterTyped(const Tensor& grad_values, const Tensor& indices,
                     const TopKBackwardPlan& plan, std::byte* out) {
  const DimGeometry& g = plan.output;
  const int64_t k = plan.k;
  const std::byte* grad = grad_values.data();
  const int64_t slices = g.slices();
  // Lowest flat position of a bad index, or -1.
  std::atomic<int64_t> first_bad{-1};
  const int64_t grain =
      std::max<int64_t>(1, kElementsPerTask / std::max<int64_t>(k, 1));
  ParallelForRanges(
      slices, grain, [&](const tbb::blocked_range<int64_t>& range) {
        for (int64_t slice = range.begin(); slice < range.end(); ++slice) {
          const int64_t o = slice / g.inner;
          const int64_t i = slice % g.inner;
          const int64_t in_base = o * k * g.inner + i;
          const int64_t out_base = o * g.size * g.inner + i;
          for (int64_t j = 0; j < k; ++j) {
            const int64_t position = in_base + j * g.inner;
            const int64_t index = indices.Load<int64_t>(position);
            if (index < 0 || index >= g.size) {
              KeepLowest(first_bad, position);
              continue;
            }
            std::memcpy(out + (out_base + index * g.inner) * kSize,
                        grad + position * kSize, kSize);
          }
        }
      });
  return first_bad.load();
}

// Zeroes `bytes` at `dst` with ordinary stores, leaving the lines in L1 for
// the scatter that follows: glibc's memset switches to `rep stosb`, which on
// some processors writes around the cache, so that every scattered store
// then misses.
inline void ZeroInCache(std::byte* dst, int64_t bytes) {
  int64_t i = 0;
  for (; i + 64 <= bytes; i += 64) __builtin_memset(dst + i, 0, 64);
  if (i < bytes) std::memset(dst + i, 0, bytes - i);
}

// ThreadSanitizer instruments the ifunc resolver that target_clones
// generates, and the loader runs it before the sanitizer's runtime is up, so
// the program crashes at start (gcc 12 and clang 14): TSan builds keep the
// default clone only.
#if defined(__SANITIZE_THREAD__)
#define TENSOROPS_CLONE_FOR_AVX2
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TENSOROPS_CLONE_FOR_AVX2
#endif
#endif
#ifndef TENSOROPS_CLONE_FOR_AVX2
#define TENSOROPS_CLONE_FOR_AVX2 \
  __attribute__((target_clones("avx2", "default")))
#endif

// Whether every one of `count` int64 indices lies in [0, limit). Branch-free
// and vectorized; cloned for AVX2, which compares four at a time.
TENSOROPS_CLONE_FOR_AVX2 bool AllBelow(const std::byte* index_bytes,
                                       int64_t count, uint64_t limit) {
  uint64_t bad = 0;
  for (int64_t j = 0; j < count; ++j) {
    uint64_t index;
    std::memcpy(&index, index_bytes + j * 8, 8);
    bad |= index >= limit;
  }
  return bad == 0;
}

// Zeroes the output row `row` (`size` elements) and scatters its k
// gradients. Returns the position in the row of the first out-of-range
// index, or -1. Plain functions so the pointers stay in registers: stores
// through std::byte may alias any memory, including a lambda's captures.
//
// The row's indices are validated first (while they come into cache), then
// the row is zeroed and scattered into while it sits in L1, with no check
// left in the scatter loop.
template <size_t kSize>
inline int64_t ScatterRow(std::byte* row, const std::byte* row_grad,
                          const std::byte* row_indices, int64_t size,
                          int64_t k) {
  const uint64_t limit = static_cast<uint64_t>(size);
  if (!AllBelow(row_indices, k, limit)) {
    for (int64_t j = 0; j < k; ++j) {
      uint64_t index;
      std::memcpy(&index, row_indices + j * 8, 8);
      if (index >= limit) return j;
    }
  }
  ZeroInCache(row, size * kSize);
  for (int64_t j = 0; j < k; ++j) {
    int64_t index;
    std::memcpy(&index, row_indices + j * 8, 8);
    std::memcpy(row + index * kSize, row_grad + j * kSize, kSize);
  }
  return -1;
}

// ScatterRow for rows [begin, end); the lowest flat position of an
// out-of-range index, or -1.
template <size_t kSize>
int64_t ScatterRowRange(std::byte* out, const std::byte* grad,
                        const std::byte* index_bytes, int64_t size, int64_t k,
                        int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const int64_t bad =
        ScatterRow<kSize>(out + r * size * kSize, grad + r * k * kSize,
                          index_bytes + r * k * 8, size, k);
    if (bad >= 0) return r * k + bad;
  }
  return -1;
}

// inner == 1: each output row is zeroed and scattered into while it is in
// cache, in one parallel pass.
template <size_t kSize>
int64_t ScatterRows(const Tensor& grad_values, const Tensor& indices,
                    const TopKBackwardPlan& plan, std::byte* out) {
  const int64_t size = plan.output.size;
  const int64_t k = plan.k;
  std::atomic<int64_t> first_bad{-1};
  const int64_t grain =
      std::max<int64_t>(1, kElementsPerTask * 16 / std::max<int64_t>(size, 1));
  ParallelForRanges(
      plan.output.outer, grain, [&](const tbb::blocked_range<int64_t>& range) {
        const int64_t bad =
            ScatterRowRange<kSize>(out, grad_values.data(), indices.data(),
                                   size, k, range.begin(), range.end());
        if (bad >= 0) KeepLowest(first_bad, bad);
      });
  return first_bad.load();
}

// The first out-of-range index a chunked scatter found: its flat position
// and the value it had when read (shared bytes may change afterwards).
class FirstBadIndex {
 public:
  void Keep(int64_t position, int64_t value) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (position_ < 0 || position < position_) {
      position_ = position;
      value_ = value;
    }
  }
  std::optional<std::pair<int64_t, int64_t>> Get() const {
    if (position_ < 0) return std::nullopt;
    return std::make_pair(position_, value_);
  }

 private:
  std::mutex mutex_;
  int64_t position_ = -1;
  int64_t value_ = 0;
};

// ScatterRows reading each row of `grad_values` and `indices` where it lies
// (or, across a chunk boundary or from shared bytes, through a row buffer).
template <size_t kSize>
void ScatterRowsChunked(const ChunkedTensor& grad_values,
                        const ChunkedTensor& indices,
                        const TopKBackwardPlan& plan, std::byte* out,
                        FirstBadIndex& first_bad) {
  const int64_t size = plan.output.size;
  const int64_t k = plan.k;
  const size_t grad_row = static_cast<size_t>(k) * kSize;
  const size_t index_row = static_cast<size_t>(k) * 8;
  const int64_t grain =
      std::max<int64_t>(1, kElementsPerTask * 16 / std::max<int64_t>(size, 1));
  ParallelForRanges(
      plan.output.outer, grain, [&](const tbb::blocked_range<int64_t>& range) {
        ChunkedBytes::Reader grad_reader(grad_values.bytes());
        ChunkedBytes::Reader index_reader(indices.bytes());
        std::vector<std::byte> grad_scratch(grad_row);
        std::vector<std::byte> index_scratch(index_row);
        for (int64_t r = range.begin(); r < range.end(); ++r) {
          const std::byte* row_indices =
              index_reader.Read(r * index_row, index_row, index_scratch.data());
          const std::byte* row_grad =
              grad_reader.Read(r * grad_row, grad_row, grad_scratch.data());
          const int64_t bad = ScatterRow<kSize>(out + r * size * kSize,
                                                row_grad, row_indices, size, k);
          if (bad >= 0) {
            int64_t value;
            std::memcpy(&value, row_indices + bad * 8, 8);
            first_bad.Keep(r * k + bad, value);
            return;
          }
        }
      });
}

template <size_t kSize>
int64_t Scatter(const Tensor& grad_values, const Tensor& indices,
                const TopKBackwardPlan& plan, std::byte* out) {
  if (plan.output.inner == 1) {
    return ScatterRows<kSize>(grad_values, indices, plan, out);
  }
  const std::byte zero[8] = {};
  FillKernel(out, plan.output.outer * plan.output.size * plan.output.inner,
             kSize, zero);
  return ScatterTyped<kSize>(grad_values, indices, plan, out);
}

}  // namespace

absl::Status ScatterKernel(const Tensor& grad_values, const Tensor& indices,
                           const TopKBackwardPlan& plan, Tensor& grad_input) {
  const size_t element_size = DTypeSize(grad_input.dtype());
  std::byte* out = grad_input.mutable_data();
  if (grad_input.num_elements() == 0) return absl::OkStatus();
  int64_t bad = -1;
  switch (element_size) {
    case 2:
      bad = Scatter<2>(grad_values, indices, plan, out);
      break;
    case 4:
      bad = Scatter<4>(grad_values, indices, plan, out);
      break;
    default:
      bad = Scatter<8>(grad_values, indices, plan, out);
      break;
  }
  if (bad < 0) return absl::OkStatus();
  return TopKBackwardIndexError(indices, bad, plan);
}

std::optional<absl::Status> ScatterKernelChunked(
    const ChunkedTensor& grad_values, const ChunkedTensor& indices,
    const TopKBackwardPlan& plan, Tensor& grad_input) {
  if (plan.output.inner != 1 || grad_values.num_elements() == 0) {
    return std::nullopt;
  }
  std::byte* out = grad_input.mutable_data();
  FirstBadIndex first_bad;
  switch (DTypeSize(grad_input.dtype())) {
    case 2:
      ScatterRowsChunked<2>(grad_values, indices, plan, out, first_bad);
      break;
    case 4:
      ScatterRowsChunked<4>(grad_values, indices, plan, out, first_bad);
      break;
    default:
      ScatterRowsChunked<8>(grad_values, indices, plan, out, first_bad);
      break;
  }
  const std::optional<std::pair<int64_t, int64_t>> bad = first_bad.Get();
  if (!bad.has_value()) return absl::OkStatus();
  return TopKBackwardIndexError(bad->first, bad->second, plan);
}

}  // namespace tensorops::cpu
