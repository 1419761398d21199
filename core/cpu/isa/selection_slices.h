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
#include <type_traits>

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

// Radix select: the key of 0-based rank `rank` among keys[0..n), which it
// reorders. Each pass histograms one digit of the candidates' (unsigned,
// order-preserving) keys and keeps only the bucket holding the rank, so a
// slice is read about once plus a small remainder; nth_element finishes when
// few candidates are left or the digits run out (heavy ties). Adds to
// *below the number of keys strictly less than the returned one.
template <typename Key>
Key SelectRank(Key* keys, int64_t n, int64_t rank, int64_t* below) {
  using Unsigned = std::make_unsigned_t<Key>;
  constexpr int kKeyBits = static_cast<int>(sizeof(Key) * 8);
  constexpr Unsigned kSignBit = Unsigned{1} << (kKeyBits - 1);
  constexpr int64_t kFewCandidates = 64;
  // Wide digits pay off only where the slice dwarfs the histogram.
  const int digit_bits = n >= 1024 ? 11 : 8;
  const Unsigned digit_mask = (Unsigned{1} << digit_bits) - 1;
  uint32_t counts[1 << 11];
  int shift = kKeyBits - digit_bits;
  while (n > kFewCandidates) {
    const auto digit = [&](Key key) {
      return static_cast<uint32_t>(
          ((static_cast<Unsigned>(key) ^ kSignBit) >> shift) & digit_mask);
    };
    std::fill_n(counts, size_t{1} << digit_bits, 0u);
    for (int64_t i = 0; i < n; ++i) ++counts[digit(keys[i])];
    uint32_t bucket = 0;
    int64_t before = 0;
    while (before + counts[bucket] <= rank) before += counts[bucket++];
    const int64_t kept = counts[bucket];
    if (kept < n) {
      int64_t out = 0;
      for (int64_t i = 0; i < n; ++i) {
        // Branch-free: the bucket kept is often a few percent of the keys.
        const Key key = keys[i];
        keys[out] = key;
        out += digit(key) == bucket;
      }
    }
    *below += before;
    rank -= before;
    n = kept;
    if (shift == 0) break;
    // Overlapping a digit already fixed is harmless: it is equal in every
    // candidate left.
    shift = std::max(0, shift - digit_bits);
  }
  std::nth_element(keys, keys + rank, keys + n);
  const Key key = keys[rank];
  // nth_element leaves only keys <= key before rank.
  *below += std::count_if(keys, keys + rank, [key](Key k) { return k < key; });
  return key;
}

// torch.kthvalue and torch.median along the plan's dim: the element of
// 0-based rank plan.rank in ascending order, found by SelectRank on a copy
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
  constexpr Key kNaNKey = std::numeric_limits<Key>::max();
  const SliceLayout layout{plan.input.size, plan.input.inner};
  const int64_t size = layout.size;
  const int64_t inner = layout.inner;
  const int64_t stride = inner * static_cast<int64_t>(kSize);
  const int64_t rank = plan.rank;
  const bool median = plan.kind == SelectionKind::kMedian;
  ParallelForRanges(
      plan.input.slices(), SlicesPerTask(size),
      [&](const tbb::blocked_range<int64_t>& range) {
        auto work = std::make_unique_for_overwrite<Key[]>(size);
        for (int64_t s = range.begin(); s != range.end(); ++s) {
          const std::byte* slice = in + layout.Base(s) * kSize;
          bool has_nan = false;
          for (int64_t i = 0; i < size; ++i) {
            const Key key = Traits::Load(slice + i * stride);
            work[i] = key;
            if constexpr (Traits::kHasNaN) has_nan |= key == kNaNKey;
          }
          Key key = kNaNKey;
          int64_t occurrence = 0;
          if (!(median && has_nan)) {
            int64_t below = 0;
            key = SelectRank(work.get(), size, rank, &below);
            if (median) occurrence = rank - below;
          }
          // The (occurrence)-th element equal to key, in index order.
          int64_t position = size - 1;
          for (int64_t i = 0; i < size; ++i) {
            if (Traits::Load(slice + i * stride) == key && occurrence-- == 0) {
              position = i;
              break;
            }
          }
          CopyElement<kSize>(values + s * kSize, slice + position * stride);
          indices[s] = position;
        }
      });
}

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_SELECTION_SLICES_H_
