// torch.max(dim) and torch.min(dim): the first position of the extreme
// value of each slice, or of its first NaN (NaN propagates). Both are one
// scan for the largest "preference" (key for max; ~key for min, with NaN
// kept on top), eight 32-bit elements at a time with AVX2 (float32, int32;
// Preference8), else as the compiler vectorizes the scalar loop:
//  - rows (inner == 1): blocks of kRowBlock elements reduced to their
//    largest preference, the first block holding the best rescanned for its
//    first position; few long rows are split into segments run in parallel;
//  - columns (inner > 1): a running best and position per column, for
//    blocks of kColumnBlock adjacent columns read row by row, so reads are
//    long and sequential (16 KiB of float32 per row; 1 KiB ones halved the
//    speed). With AVX2 each group of eight columns keeps its best in
//    registers over kRowGroup rows, instead of loading and storing it per
//    row: [4096,32000] along dim 0 went from 12 to 22 GB/s.
//
// Compiled once per instruction set: include only from a translation unit
// that defines TENSOROPS_CPU_ISA (see core/cpu/selection_kernel_generic.cc).
#ifndef TENSOROPS_CORE_CPU_ISA_EXTREME_SCAN_H_
#define TENSOROPS_CORE_CPU_ISA_EXTREME_SCAN_H_

#include <tbb/task_arena.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "core/cpu/isa/isa.h"  // once per instruction set
#include "core/cpu/isa/segments.h"
#include "core/cpu/isa/selection_slices.h"
#include "core/cpu/parallel_rows.h"
#include "core/op_plans.h"

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

constexpr int64_t kRowBlock = 512;
constexpr int64_t kColumnBlock = 4096;
// Rows a column group's running best stays in registers for.
constexpr int64_t kRowGroup = 8;

// The order max (kMin = false) or min looks for the largest of.
template <typename Traits, bool kMin>
typename Traits::KeyType Preference(const std::byte* p) {
  using Key = typename Traits::KeyType;
  const Key key = Traits::Load(p);
  if constexpr (!kMin) return key;  // NaN's key is already the largest
  if constexpr (Traits::kHasNaN) {
    constexpr Key kNaNKey = std::numeric_limits<Key>::max();
    return key == kNaNKey ? kNaNKey : static_cast<Key>(~key);
  }
  return static_cast<Key>(~key);
}

template <typename Key>
struct Extreme {
  Key preference;
  int64_t position;
};

#if defined(__AVX2__)
// Whether Preference8 serves Traits: 32-bit elements with 32-bit keys
// (float32, int32).
template <typename Traits>
constexpr bool kVectorPreferences = Traits::kSize == 4 &&
                                    sizeof(typename Traits::KeyType) == 4;

// Preference of the eight 32-bit elements at `p`: FloatKey::Load eight at
// a time (sign-magnitude to two's complement, NaN to the largest key, kept
// there for min), or the integers themselves.
template <typename Traits, bool kMin>
__m256i Preference8(const std::byte* p) {
  using Key = typename Traits::KeyType;
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i all_ones = _mm256_set1_epi32(-1);
  if constexpr (!Traits::kHasNaN) {
    return kMin ? _mm256_xor_si256(v, all_ones) : v;
  } else {
    const __m256i magnitude =
        _mm256_and_si256(v, _mm256_set1_epi32(0x7fffffff));
    const __m256i sign = _mm256_srai_epi32(v, 31);
    __m256i key = _mm256_sub_epi32(_mm256_xor_si256(magnitude, sign), sign);
    if constexpr (kMin) key = _mm256_xor_si256(key, all_ones);
    // NaN last, so that it stays on top for min too.
    const __m256i nan =
        _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7f800000));
    return _mm256_blendv_epi8(
        key, _mm256_set1_epi32(std::numeric_limits<Key>::max()), nan);
  }
}
#endif

// The largest preference among elements [begin, end) (begin < end) of a
// contiguous row.
template <typename Traits, bool kMin>
typename Traits::KeyType BlockBest(const std::byte* row, int64_t begin,
                                   int64_t end) {
  using Key = typename Traits::KeyType;
  Key best = std::numeric_limits<Key>::min();
  int64_t i = begin;
#if defined(__AVX2__)
  // 32-bit elements with 32-bit keys (float32, int32), 32 per step in four
  // accumulators: the scalar loop below, which the compiler leaves
  // unvectorized for min's NaN rule, ran at a quarter of memory speed.
  if constexpr (kVectorPreferences<Traits>) {
    __m256i best_lanes[4];
    for (__m256i& lanes : best_lanes) {
      lanes = _mm256_set1_epi32(std::numeric_limits<Key>::min());
    }
    for (; i + 32 <= end; i += 32) {
      for (int q = 0; q < 4; ++q) {
        best_lanes[q] = _mm256_max_epi32(
            best_lanes[q],
            Preference8<Traits, kMin>(row + (i + 8 * q) * Traits::kSize));
      }
    }
    const __m256i lanes =
        _mm256_max_epi32(_mm256_max_epi32(best_lanes[0], best_lanes[1]),
                         _mm256_max_epi32(best_lanes[2], best_lanes[3]));
    alignas(32) Key lane_values[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lane_values), lanes);
    for (Key lane : lane_values) best = std::max(best, lane);
  }
#endif
  for (; i < end; ++i) {
    best = std::max(best, Preference<Traits, kMin>(row + i * Traits::kSize));
  }
  return best;
}

// The largest preference among elements [begin, end) (begin < end) of a
// contiguous row, at its first position.
template <typename Traits, bool kMin>
Extreme<typename Traits::KeyType> ScanRow(const std::byte* row, int64_t begin,
                                          int64_t end) {
  using Key = typename Traits::KeyType;
  constexpr size_t kSize = Traits::kSize;
  Key best = std::numeric_limits<Key>::min();
  int64_t best_block = begin;
  for (int64_t block = begin; block < end; block += kRowBlock) {
    const Key block_best =
        BlockBest<Traits, kMin>(row, block, std::min(end, block + kRowBlock));
    if (block == begin || block_best > best) {
      best = block_best;
      best_block = block;
      // Nothing ranks above this (a NaN, or the dtype's extreme).
      if (best == std::numeric_limits<Key>::max()) break;
    }
  }
  int64_t i = best_block;
#if defined(__AVX2__)
  // The rescan eight at a time: scalar, it cost as much as the scan itself
  // on rows of about a thousand elements.
  if constexpr (kVectorPreferences<Traits>) {
    const __m256i target = _mm256_set1_epi32(best);
    for (; i + 8 <= end; i += 8) {
      const int equal =
          _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(
              Preference8<Traits, kMin>(row + i * kSize), target)));
      if (equal != 0) return {best, i + __builtin_ctz(equal)};
    }
  }
#endif
  while (Preference<Traits, kMin>(row + i * kSize) != best) ++i;
  return {best, i};
}

template <typename Traits, bool kMin>
void ExtremeOfRows(const SelectionPlan& plan, const std::byte* in,
                   std::byte* values, int64_t* indices) {
  using Key = typename Traits::KeyType;
  constexpr size_t kSize = Traits::kSize;
  const int64_t rows = plan.input.outer;
  const int64_t size = plan.input.size;
  auto emit = [&](int64_t r, int64_t position) {
    CopyElement<kSize>(values + r * kSize, in + (r * size + position) * kSize);
    indices[r] = position;
  };
  const int64_t threads = tbb::this_task_arena::max_concurrency();
  if (rows >= 2 * threads || size < 2 * kMinElementsPerTask) {
    ParallelForRanges(
        rows, SlicesPerTask(size),
        [&](const tbb::blocked_range<int64_t>& range) {
          for (int64_t r = range.begin(); r != range.end(); ++r) {
            emit(
                r,
                ScanRow<Traits, kMin>(in + r * size * kSize, 0, size).position);
          }
        });
    return;
  }
  // Few long rows: segments in parallel, combined in order so that the
  // first of equal extremes wins.
  const int64_t segments =
      std::min<int64_t>(4 * threads, size / kMinElementsPerTask);
  std::vector<Extreme<Key>> found(segments);
  for (int64_t r = 0; r < rows; ++r) {
    const std::byte* row = in + r * size * kSize;
    ParallelForRanges(
        segments, 1, [&](const tbb::blocked_range<int64_t>& range) {
          for (int64_t g = range.begin(); g != range.end(); ++g) {
            found[g] = ScanRow<Traits, kMin>(row, size * g / segments,
                                             size * (g + 1) / segments);
          }
        });
    Extreme<Key> best = found[0];
    for (const Extreme<Key>& e : found) {
      if (e.preference > best.preference) best = e;
    }
    emit(r, best.position);
  }
}

// Columns: for each outer index and block of adjacent columns, a running
// best over the rows, replaced only by a strictly larger preference (the
// first position wins). Position is the dtype's key type where the size
// fits it (vectorizes better), else int64_t.
template <typename Traits, bool kMin, typename Position>
void ExtremeOfColumns(const SelectionPlan& plan, const std::byte* in,
                      std::byte* values, int64_t* indices) {
  using Key = typename Traits::KeyType;
  constexpr size_t kSize = Traits::kSize;
  const int64_t outer = plan.input.outer;
  const int64_t size = plan.input.size;
  const int64_t inner = plan.input.inner;
  const int64_t blocks_per_outer = (inner + kColumnBlock - 1) / kColumnBlock;
  const int64_t grain = std::max<int64_t>(
      1, kMinElementsPerTask / std::max<int64_t>(size * kColumnBlock, 1));
  ParallelForRanges(
      outer * blocks_per_outer, grain,
      [&](const tbb::blocked_range<int64_t>& range) {
        Key best[kColumnBlock];
        Position at[kColumnBlock];
        for (int64_t task = range.begin(); task != range.end(); ++task) {
          const int64_t o = task / blocks_per_outer;
          const int64_t first = (task % blocks_per_outer) * kColumnBlock;
          const int64_t width = std::min(kColumnBlock, inner - first);
          const std::byte* start = in + (o * size * inner + first) * kSize;
          for (int64_t c = 0; c < width; ++c) {
            best[c] = Preference<Traits, kMin>(start + c * kSize);
            at[c] = 0;
          }
          for (int64_t r0 = 1; r0 < size; r0 += kRowGroup) {
            const int64_t r1 = std::min(size, r0 + kRowGroup);
            int64_t vector_end = 0;
#if defined(__AVX2__)
            if constexpr (kVectorPreferences<Traits> && sizeof(Position) == 4) {
              for (; vector_end + 8 <= width; vector_end += 8) {
                auto* best8 = reinterpret_cast<__m256i*>(best + vector_end);
                auto* at8 = reinterpret_cast<__m256i*>(at + vector_end);
                __m256i group_best = _mm256_loadu_si256(best8);
                __m256i group_at = _mm256_loadu_si256(at8);
                const std::byte* column = start + vector_end * kSize;
                for (int64_t r = r0; r < r1; ++r) {
                  const __m256i p =
                      Preference8<Traits, kMin>(column + r * inner * kSize);
                  const __m256i better = _mm256_cmpgt_epi32(p, group_best);
                  group_best = _mm256_max_epi32(p, group_best);
                  group_at = _mm256_blendv_epi8(
                      group_at, _mm256_set1_epi32(static_cast<int32_t>(r)),
                      better);
                }
                _mm256_storeu_si256(best8, group_best);
                _mm256_storeu_si256(at8, group_at);
              }
            }
#endif
            for (int64_t r = r0; r < r1; ++r) {
              const std::byte* row = start + r * inner * kSize;
              const Position position = static_cast<Position>(r);
              for (int64_t c = vector_end; c < width; ++c) {
                const Key p = Preference<Traits, kMin>(row + c * kSize);
                const bool better = p > best[c];
                best[c] = better ? p : best[c];
                at[c] = better ? position : at[c];
              }
            }
          }
          for (int64_t c = 0; c < width; ++c) {
            const int64_t s = o * inner + first + c;
            const int64_t position = static_cast<int64_t>(at[c]);
            CopyElement<kSize>(values + s * kSize,
                               start + (position * inner + c) * kSize);
            indices[s] = position;
          }
        }
      });
}

template <typename Traits, bool kMin>
void ExtremeSlices(const SelectionPlan& plan, const std::byte* in,
                   std::byte* values, int64_t* indices) {
  using Key = typename Traits::KeyType;
  if (plan.input.inner == 1) {
    ExtremeOfRows<Traits, kMin>(plan, in, values, indices);
  } else if (plan.input.size <= std::numeric_limits<Key>::max()) {
    ExtremeOfColumns<Traits, kMin, Key>(plan, in, values, indices);
  } else {
    ExtremeOfColumns<Traits, kMin, int64_t>(plan, in, values, indices);
  }
}

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_EXTREME_SCAN_H_
