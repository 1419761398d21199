// The slice kernels of sort, kthvalue and median: each slice along the
// selected dimension is read once into a private buffer of order keys
// (core/cpu/order_keys.h), ordered there, and its results written out; slices
// run in parallel, several per task when they are short.
//
// Compiled once per instruction set: include only from a translation unit
// that defines TENSOROPS_CPU_ISA (see core/cpu/selection_kernel_generic.cc).
#ifndef TENSOROPS_CORE_CPU_ISA_SELECTION_SLICES_H_
#define TENSOROPS_CORE_CPU_ISA_SELECTION_SLICES_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>

#include "core/cpu/isa/isa.h"  // once per instruction set
#include "core/cpu/isa/key_packing.h"
#include "core/cpu/isa/radix_sort.h"
#include "core/cpu/isa/segments.h"
#include "core/cpu/parallel_rows.h"
#include "core/op_plans.h"

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

// Slice s of a [outer, size, inner] tensor (s = o * inner + c) holds the
// elements Base(s) + i * inner, i in [0, size); a reduction writes slice s's
// result at flat position s of its output.
struct SliceLayout {
  int64_t size;
  int64_t inner;
  int64_t Base(int64_t s) const {
    return (s / inner) * size * inner + s % inner;
  }
};

// Slices per task: enough that a task reads at least kMinElementsPerTask.
int64_t SlicesPerTask(int64_t size) {
  return std::max<int64_t>(1, kMinElementsPerTask / std::max<int64_t>(size, 1));
}

// Copies one element of kSize bytes (a constant, so this is one move).
template <size_t kSize>
void CopyElement(std::byte* to, const std::byte* from) {
  std::memcpy(to, from, kSize);
}

// torch.sort along the plan's dim: each slice packed as (key, position)
// (Packing<PackKey>) and radix sorted, stable, so that equal values keep
// index order in both directions. PackKey is the dtype's key type, or
// int64_t when positions do not fit the narrower packing.
template <typename Traits, typename PackKey>
void SortSlices(const SelectionPlan& plan, const std::byte* in,
                std::byte* values, int64_t* indices) {
  using P = Packing<PackKey>;
  using Packed = typename P::Packed;
  constexpr size_t kSize = Traits::kSize;
  const SliceLayout layout{plan.input.size, plan.input.inner};
  const int64_t size = layout.size;
  const int64_t inner = layout.inner;
  const bool descending = plan.descending;
  ParallelForRanges(
      plan.input.slices(), SlicesPerTask(size),
      [&](const tbb::blocked_range<int64_t>& range) {
        auto data = std::make_unique_for_overwrite<Packed[]>(size);
        auto scratch = std::make_unique_for_overwrite<Packed[]>(size);
        for (int64_t s = range.begin(); s != range.end(); ++s) {
          const int64_t base = layout.Base(s);
          const std::byte* slice = in + base * kSize;
          for (int64_t i = 0; i < size; ++i) {
            const PackKey key = Traits::Load(slice + i * inner * kSize);
            // Smallest first is largest-first of the reversed key.
            data[i] = P::Pack(descending ? key : ~key,
                              static_cast<typename P::Position>(i));
          }
          RadixSortByKeyDescending<P>(data.get(), scratch.get(), size);
          std::byte* slice_values = values + base * kSize;
          int64_t* slice_indices = indices + base;
          for (int64_t j = 0; j < size; ++j) {
            const int64_t position =
                static_cast<int64_t>(P::PositionOf(data[j]));
            CopyElement<kSize>(slice_values + j * inner * kSize,
                               slice + position * inner * kSize);
            slice_indices[j * inner] = position;
          }
        }
      });
}

// Position in keys[0..n) of the (occurrence)-th (0-based) element equal to
// `key`; the caller knows there are more than `occurrence` of them.
template <typename Key>
int64_t PositionOfOccurrence(const Key* keys, int64_t n, Key key,
                             int64_t occurrence) {
  for (int64_t i = 0; i < n; ++i) {
    if (keys[i] == key && occurrence-- == 0) return i;
  }
  return n - 1;  // unreachable for a caller that keeps the contract
}

// torch.kthvalue and torch.median along the plan's dim: the element of
// 0-based rank plan.rank in ascending order, found by nth_element on a copy
// of the slice's keys. Which of several equal elements is returned:
//  - kthvalue: the lowest index holding the value (tensorops' rule);
//  - median: a NaN's first index if the slice has one (NaN propagates, as
//    PyTorch does), else the element at plan.rank of a stable ascending
//    sort (PyTorch's choice): that is the (rank - count below)-th
//    occurrence of the value in index order.
template <typename Traits>
void RankSlices(const SelectionPlan& plan, const std::byte* in,
                std::byte* values, int64_t* indices) {
  using Key = typename Traits::KeyType;
  constexpr size_t kSize = Traits::kSize;
  const SliceLayout layout{plan.input.size, plan.input.inner};
  const int64_t size = layout.size;
  const int64_t inner = layout.inner;
  const int64_t rank = plan.rank;
  const bool median = plan.kind == SelectionKind::kMedian;
  ParallelForRanges(
      plan.input.slices(), SlicesPerTask(size),
      [&](const tbb::blocked_range<int64_t>& range) {
        auto keys = std::make_unique_for_overwrite<Key[]>(size);
        auto work = std::make_unique_for_overwrite<Key[]>(size);
        for (int64_t s = range.begin(); s != range.end(); ++s) {
          const std::byte* slice = in + layout.Base(s) * kSize;
          for (int64_t i = 0; i < size; ++i) {
            keys[i] = Traits::Load(slice + i * inner * kSize);
          }
          int64_t position = -1;
          if constexpr (Traits::kHasNaN) {
            if (median) {
              const Key* nan = std::find(keys.get(), keys.get() + size,
                                         std::numeric_limits<Key>::max());
              if (nan != keys.get() + size) position = nan - keys.get();
            }
          }
          if (position < 0) {
            std::copy(keys.get(), keys.get() + size, work.get());
            std::nth_element(work.get(), work.get() + rank, work.get() + size);
            const Key key = work[rank];
            int64_t occurrence = 0;
            if (median) {
              // nth_element leaves only keys <= key before rank.
              occurrence =
                  rank - std::count_if(work.get(), work.get() + rank,
                                       [key](Key k) { return k < key; });
            }
            position = PositionOfOccurrence(keys.get(), size, key, occurrence);
          }
          CopyElement<kSize>(values + s * kSize,
                             slice + position * inner * kSize);
          indices[s] = position;
        }
      });
}

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_SELECTION_SLICES_H_
