// Ordering a few hundred topk candidates best first by counting, for each,
// the candidates that rank above it: every candidate against every other in
// vector compares, with no data-dependent branch. For the ~100 candidates a
// scan leaves for k = 50 this is several times faster than nth_element
// followed by a sort, whose comparisons mispredict about half the time.
//
// Compiled once per instruction set: include only from a translation unit
// that defines TENSOROPS_CPU_ISA (see core/cpu/topk_kernel_generic.cc); only
// the AVX2 and AVX-512 clones have it (TENSOROPS_HAS_RANK_ORDER).
#ifndef TENSOROPS_CORE_CPU_ISA_RANK_ORDER_H_
#define TENSOROPS_CORE_CPU_ISA_RANK_ORDER_H_

#include <algorithm>
#include <cstdint>

#include "core/cpu/isa/candidates.h"
#include "core/cpu/isa/isa.h"  // once per instruction set
#include "core/cpu/isa/key_packing.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

#if defined(__AVX2__)
#define TENSOROPS_HAS_RANK_ORDER 1

// For candidates packed with Packing<int32_t> (32-bit order keys).
class RankOrder {
 public:
  using P = Packing<int32_t>;
  using Packed = P::Packed;
  // Beyond this many candidates the quadratic count costs more than
  // nth_element and a sort.
  static constexpr int64_t kMaxCount = 192;

  static bool Handles(int64_t count) { return count <= kMaxCount; }

  // Reorders items[0..count) so that items[0..min(k, count)) are the best
  // min(k, count), best first (topk's order: higher key, then lower
  // position); the rest is overwritten. Requires Handles(count) and k > 0.
  void BestFirst(Packed* items, int64_t count, int64_t k) {
    for (int64_t j = 0; j < count; ++j) {
      keys_[j] = P::KeyOf(items[j]);
      positions_[j] = static_cast<int32_t>(P::PositionOf(items[j]));
    }
    // Lanes past count are compared but their ranks never read.
    const int64_t padded = (count + kLanes - 1) / kLanes * kLanes;
    for (int64_t j = count; j < padded; ++j) {
      keys_[j] = 0;
      positions_[j] = 0;
    }
    CountAbove</*kTies=*/false>(count, padded);
    int64_t rank_sum = 0;
    for (int64_t j = 0; j < count; ++j) rank_sum += ranks_[j];
    // Distinct keys rank as a permutation of 0..count-1: each tied pair
    // lowers the sum by one. Then equal keys are ordered by position.
    if (rank_sum != count * (count - 1) / 2) {
      CountAbove</*kTies=*/true>(count, padded);
    }
    // Slot k takes every loser (there are none when k >= count), so the
    // loop has no branch; items are rebuilt from the copies above.
    const int32_t losers = static_cast<int32_t>(std::min(k, count));
    for (int64_t j = 0; j < count; ++j) {
      items[std::min(ranks_[j], losers)] =
          P::Pack(keys_[j], static_cast<P::Position>(positions_[j]));
    }
  }

 private:
#if defined(__AVX512F__)
  static constexpr int64_t kLanes = 16;
#else
  static constexpr int64_t kLanes = 8;
#endif
  // Lane groups counted at once, so each broadcast serves several.
  static constexpr int64_t kGroups = 4;

  // ranks_[j] (kTies: ranks_[j] plus) the number of candidates above
  // candidate j: with a higher key (kTies: an equal key and a lower
  // position).
  template <bool kTies>
  void CountAbove(int64_t count, int64_t padded) {
    for (int64_t start = 0; start < padded; start += kGroups * kLanes) {
      const int64_t groups = std::min(kGroups, (padded - start) / kLanes);
#if defined(__AVX512F__)
      __m512i mine[kGroups], me[kGroups], above[kGroups];
      for (int64_t g = 0; g < kGroups; ++g) {
        const int64_t at = start + (g < groups ? g : 0) * kLanes;
        mine[g] = _mm512_load_si512(keys_ + at);
        me[g] = _mm512_load_si512(positions_ + at);
        above[g] =
            kTies ? _mm512_load_si512(ranks_ + at) : _mm512_setzero_si512();
      }
      const __m512i one = _mm512_set1_epi32(1);
      for (int64_t j = 0; j < count; ++j) {
        const __m512i key = _mm512_set1_epi32(keys_[j]);
        const __m512i position = _mm512_set1_epi32(positions_[j]);
        for (int64_t g = 0; g < kGroups; ++g) {
          const __mmask16 hit =
              kTies
                  ? _mm512_mask_cmpgt_epi32_mask(
                        _mm512_cmpeq_epi32_mask(key, mine[g]), me[g], position)
                  : _mm512_cmpgt_epi32_mask(key, mine[g]);
          above[g] = _mm512_mask_add_epi32(above[g], hit, above[g], one);
        }
      }
      for (int64_t g = 0; g < groups; ++g) {
        _mm512_store_si512(ranks_ + start + g * kLanes, above[g]);
      }
#else
      __m256i mine[kGroups], me[kGroups], above[kGroups];
      for (int64_t g = 0; g < kGroups; ++g) {
        const int64_t at = start + (g < groups ? g : 0) * kLanes;
        mine[g] = Load8(keys_ + at);
        me[g] = Load8(positions_ + at);
        above[g] = kTies ? Load8(ranks_ + at) : _mm256_setzero_si256();
      }
      for (int64_t j = 0; j < count; ++j) {
        const __m256i key = _mm256_set1_epi32(keys_[j]);
        const __m256i position = _mm256_set1_epi32(positions_[j]);
        for (int64_t g = 0; g < kGroups; ++g) {
          // Compares give -1 where true.
          const __m256i hit =
              kTies ? _mm256_and_si256(_mm256_cmpeq_epi32(key, mine[g]),
                                       _mm256_cmpgt_epi32(me[g], position))
                    : _mm256_cmpgt_epi32(key, mine[g]);
          above[g] = _mm256_sub_epi32(above[g], hit);
        }
      }
      for (int64_t g = 0; g < groups; ++g) {
        _mm256_store_si256(
            reinterpret_cast<__m256i*>(ranks_ + start + g * kLanes), above[g]);
      }
#endif
    }
  }

#if !defined(__AVX512F__)
  static __m256i Load8(const int32_t* p) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  }
#endif

  static constexpr int64_t kPadded =
      (kMaxCount + kGroups * 16 - 1) / (kGroups * 16) * (kGroups * 16);
  alignas(64) int32_t keys_[kPadded] = {};
  alignas(64) int32_t positions_[kPadded] = {};
  alignas(64) int32_t ranks_[kPadded] = {};
};

#else
// Without AVX2, candidates are ordered by nth_element and sort alone.
class RankOrder {
 public:
  static bool Handles(int64_t) { return false; }
  void BestFirst(Packing<int32_t>::Packed*, int64_t, int64_t) {}
};
#endif  // __AVX2__

// The buffer's best min(k, added) candidates, ordered as TopK returns them
// (best first when sorted, else by increasing position), in the buffer's
// storage; the buffer must be reset before it is used again.
template <typename Key>
typename Packing<Key>::Packed* OrderBest(CandidateBuffer<Key>& buffer,
                                         bool sorted, RankOrder& rank,
                                         int64_t* count) {
  using P = Packing<Key>;
  if constexpr (sizeof(Key) == 4) {
    int64_t held = 0;
    typename P::Packed* items = buffer.Held(&held);
    if (sorted && RankOrder::Handles(held)) {
      rank.BestFirst(items, held, buffer.k());
      *count = std::min(buffer.k(), held);
      return items;
    }
  }
  typename P::Packed* winners = buffer.Finish(count);
  OrderWinners<PackedOrder<P>>(winners, *count, sorted);
  return winners;
}

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_RANK_ORDER_H_
