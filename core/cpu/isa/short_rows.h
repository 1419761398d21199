// topk of short rows in AVX2 registers: rows of at most kMaxSize elements
// with 32-bit order keys and k <= kMaxK (e.g. [65536,128] k=8), where the
// general RunSelector's per-row setup and its insertions into a candidate
// buffer cost more than reading the row. Branch-free apart from two rare
// exits:
//
//  1. The row's keys are loaded once (vectorized), and 16 running maxima
//     (k <= 8: two registers of lane maxima; else each lane's best two) are
//     kept in registers. They are 16 distinct elements, so their k-th
//     largest, T, has at least k elements at or above it.
//  2. The elements at or above T (about 1-2.5 k on random data) are packed
//     to the front of a candidate array (AVX-512: compress; AVX2: a
//     lane-permutation table).
//  3. Each candidate's rank is the number of candidates above it, counted
//     with vector compares; ties between equal keys (rare on floats) are
//     detected from the ranks' sum and then broken by position, as topk's
//     order requires.
//  4. The candidates of rank < k go to their output slots.
//
// A row with more than kMaxCandidates candidates (many equal keys) is left
// to the general selector: Select returns false.
//
// Compiled once per instruction set: include only from a translation unit
// that defines TENSOROPS_CPU_ISA (see core/cpu/topk_kernel_generic.cc); only
// the AVX2 clone has it (kHasShortRowSelector).
#ifndef TENSOROPS_CORE_CPU_ISA_SHORT_ROWS_H_
#define TENSOROPS_CORE_CPU_ISA_SHORT_ROWS_H_

#include "core/cpu/isa/isa.h"  // once per instruction set
#include "core/cpu/isa/simd_masks.h"

#if defined(__AVX2__)
#include <immintrin.h>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#endif

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

#if defined(__AVX2__)
#define TENSOROPS_HAS_SHORT_ROW_SELECTOR 1

template <typename Traits>
class ShortRowSelector {
 public:
  using Key = typename Traits::KeyType;
  static_assert(sizeof(Key) == 4, "short rows hold 32-bit order keys");
  static constexpr int64_t kMaxSize = 1024;
  static constexpr int64_t kMaxK = 16;
  static constexpr int64_t kMaxCandidates = 64;

  static bool Handles(int64_t size, int64_t k) {
    return size <= kMaxSize && k <= kMaxK;
  }

  // Writes the best k of run[0..n) to values[0..k) (bit for bit) and
  // indices[0..k): best first when sorted, else by increasing position.
  // Requires Handles(n, k) and 0 < k <= n. Returns false, having written
  // nothing, when more than kMaxCandidates elements reach the threshold.
  bool Select(const std::byte* run, int64_t n, int64_t k, Key flip, bool sorted,
              std::byte* values, int64_t* indices) {
    const int64_t vectors = (n + 7) / 8;
    for (int64_t j = 0; j < n; ++j) {
      keys_[j] = Traits::Load(run + j * Traits::kSize) ^ flip;
    }
    // Padding never becomes a candidate (the last vector's mask drops it),
    // and as the lowest key it only ever lowers the threshold.
    for (int64_t j = n; j < vectors * 8; ++j) keys_[j] = kLowest;
    const int64_t count = PackCandidates(Threshold(vectors, k), n, vectors);
    if (count > kMaxCandidates) return false;
    RankCandidates(count);
    alignas(32) int32_t chosen[kMaxK + 1];  // slot k takes the losers
    if (sorted) {
      for (int64_t j = 0; j < count; ++j) {
        const int32_t rank = ranks_[j];
        chosen[rank < k ? rank : k] = positions_[j];
      }
    } else {
      // Candidates are in position order already.
      int64_t slot = 0;
      for (int64_t j = 0; j < count; ++j) {
        chosen[slot] = positions_[j];
        slot += ranks_[j] < k;
      }
    }
    for (int64_t j = 0; j < k; ++j) {
      std::memcpy(values + j * Traits::kSize,
                  run + int64_t{chosen[j]} * Traits::kSize, Traits::kSize);
      indices[j] = chosen[j];
    }
    return true;
  }

 private:
  static constexpr Key kLowest = std::numeric_limits<Key>::min();

  static __m256i Load8(const int32_t* p) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  }

  // The largest key T such that at least k of 16 distinct elements' keys
  // (two registers' lanes) are at or above it.
  static Key KthLargestOf16(__m256i first, __m256i second, int64_t k) {
    alignas(32) int32_t keys[16];
    _mm256_store_si256(reinterpret_cast<__m256i*>(keys), first);
    _mm256_store_si256(reinterpret_cast<__m256i*>(keys + 8), second);
    // below_*: how many of the 16 are below each lane's key.
    __m256i below_first = _mm256_setzero_si256();
    __m256i below_second = _mm256_setzero_si256();
    for (int s = 0; s < 16; ++s) {
      const __m256i other = _mm256_set1_epi32(keys[s]);
      below_first =
          _mm256_sub_epi32(below_first, _mm256_cmpgt_epi32(first, other));
      below_second =
          _mm256_sub_epi32(below_second, _mm256_cmpgt_epi32(second, other));
    }
    // A key qualifies when at least k are at or above it: below <= 16 - k.
    const __m256i most_below = _mm256_set1_epi32(static_cast<int32_t>(16 - k));
    const __m256i lowest = _mm256_set1_epi32(kLowest);
    const __m256i qualified = _mm256_max_epi32(
        _mm256_blendv_epi8(first, lowest,
                           _mm256_cmpgt_epi32(below_first, most_below)),
        _mm256_blendv_epi8(second, lowest,
                           _mm256_cmpgt_epi32(below_second, most_below)));
    __m128i best = _mm_max_epi32(_mm256_castsi256_si128(qualified),
                                 _mm256_extracti128_si256(qualified, 1));
    best = _mm_max_epi32(best, _mm_shuffle_epi32(best, 0x4e));
    best = _mm_max_epi32(best, _mm_shuffle_epi32(best, 0xb1));
    return _mm_cvtsi128_si32(best);
  }

  // A threshold with at least k of the row's elements at or above it.
  Key Threshold(int64_t vectors, int64_t k) const {
    const __m256i lowest = _mm256_set1_epi32(kLowest);
    __m256i first = lowest;
    __m256i second = lowest;
    if (k <= 8) {
      // Sixteen lanes, each the maximum of every other vector's lane.
      int64_t v = 0;
      for (; v + 2 <= vectors; v += 2) {
        first = _mm256_max_epi32(first, Load8(keys_ + 8 * v));
        second = _mm256_max_epi32(second, Load8(keys_ + 8 * v + 8));
      }
      if (v < vectors) first = _mm256_max_epi32(first, Load8(keys_ + 8 * v));
    } else {
      // Each of eight lanes' best two.
      for (int64_t v = 0; v < vectors; ++v) {
        const __m256i x = Load8(keys_ + 8 * v);
        second = _mm256_max_epi32(second, _mm256_min_epi32(first, x));
        first = _mm256_max_epi32(first, x);
      }
    }
    return KthLargestOf16(first, second, k);
  }

  // Packs the elements with keys >= threshold, in position order, into
  // candidates_/positions_; returns how many (stopping early past
  // kMaxCandidates).
  int64_t PackCandidates(Key threshold, int64_t n, int64_t vectors) {
    const __m256i at_least = _mm256_set1_epi32(threshold);
    int64_t count = 0;
    for (int64_t v = 0; v < vectors; ++v) {
      const __m256i x = Load8(keys_ + 8 * v);
      uint32_t mask =
          ~static_cast<uint32_t>(_mm256_movemask_ps(
              _mm256_castsi256_ps(_mm256_cmpgt_epi32(at_least, x)))) &
          0xffu;
      if (v == vectors - 1 && n % 8 != 0) mask &= (1u << (n % 8)) - 1;
      const __m256i positions =
          _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(8 * v)),
                           _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(candidates_ + count),
                          PackLanes8(x, mask));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(positions_ + count),
                          PackLanes8(positions, mask));
      count += std::popcount(mask);
      if (count > kMaxCandidates) return count;
    }
    return count;
  }

  // ranks_[j]: how many candidates rank above candidate j in topk's order
  // (higher key, or equal key and lower position).
  void RankCandidates(int64_t count) {
    const int64_t chunks = (count + 7) / 8;
    int64_t rank_sum = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      const __m256i mine = Load8(candidates_ + 8 * c);
      __m256i above = _mm256_setzero_si256();
      for (int64_t j = 0; j < count; ++j) {
        above = _mm256_sub_epi32(
            above, _mm256_cmpgt_epi32(_mm256_set1_epi32(candidates_[j]), mine));
      }
      _mm256_store_si256(reinterpret_cast<__m256i*>(ranks_ + 8 * c), above);
    }
    for (int64_t j = 0; j < count; ++j) rank_sum += ranks_[j];
    // Distinct keys rank as a permutation of 0..count-1; any tie lowers the
    // sum. Then equal keys are ordered by position (candidate order).
    if (rank_sum == count * (count - 1) / 2) return;
    const __m256i lane_numbers = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t c = 0; c < chunks; ++c) {
      const __m256i mine = Load8(candidates_ + 8 * c);
      const __m256i me = _mm256_add_epi32(
          lane_numbers, _mm256_set1_epi32(static_cast<int32_t>(8 * c)));
      __m256i above = Load8(ranks_ + 8 * c);
      for (int64_t j = 0; j < count; ++j) {
        const __m256i tied = _mm256_and_si256(
            _mm256_cmpeq_epi32(_mm256_set1_epi32(candidates_[j]), mine),
            _mm256_cmpgt_epi32(me, _mm256_set1_epi32(static_cast<int32_t>(j))));
        above = _mm256_sub_epi32(above, tied);
      }
      _mm256_store_si256(reinterpret_cast<__m256i*>(ranks_ + 8 * c), above);
    }
  }

  // Lanes past a row's end or its candidates hold stale keys; they are
  // compared but never read as results.
  alignas(32) int32_t keys_[kMaxSize] = {};
  alignas(32) int32_t candidates_[kMaxCandidates + 8] = {};
  alignas(32) int32_t positions_[kMaxCandidates + 8] = {};
  alignas(32) int32_t ranks_[kMaxCandidates + 8] = {};
};

#endif  // __AVX2__

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_SHORT_ROWS_H_
