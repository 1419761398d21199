// Vector comparisons of 32 order keys at a time with thresholds, as bit
// masks: how the topk scans skip the (usually many) elements that cannot
// enter a candidate buffer. AVX-512 or AVX2 when the translation unit is
// compiled with it, else SSE2 for 32-bit keys, else scalar.
//
// Compiled once per instruction set: include only from a translation unit
// that defines TENSOROPS_CPU_ISA (see core/cpu/topk_kernel_generic.cc).
#ifndef TENSOROPS_CORE_CPU_ISA_SIMD_MASKS_H_
#define TENSOROPS_CORE_CPU_ISA_SIMD_MASKS_H_

#ifndef TENSOROPS_CPU_ISA
#error "define TENSOROPS_CPU_ISA (the instruction set) before this header"
#endif

#include <array>
#include <cstdint>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

// Entry m: the lane numbers of m's set bits, lowest first, a byte each: with
// a lane permutation, packs the lanes of an 8-lane mask to the front without
// branching (AVX2 has no compress instruction).
constexpr std::array<uint64_t, 256> MakeLanePackingTable() {
  std::array<uint64_t, 256> table{};
  for (int mask = 0; mask < 256; ++mask) {
    int packed = 0;
    for (int lane = 0; lane < 8; ++lane) {
      if ((mask >> lane) & 1) {
        table[mask] |= static_cast<uint64_t>(lane) << (8 * packed++);
      }
    }
  }
  return table;
}
inline constexpr std::array<uint64_t, 256> kLanePacking =
    MakeLanePackingTable();

#if defined(__AVX2__)
// The lanes of `v` whose bit is set in `mask` (bit j for lane j, j < 8),
// packed to the front, lowest first; the other lanes are unspecified.
inline __m256i PackLanes8(__m256i v, uint32_t mask) {
#if defined(__AVX512VL__)
  return _mm256_maskz_compress_epi32(static_cast<__mmask8>(mask), v);
#else
  const __m256i lanes = _mm256_cvtepu8_epi32(
      _mm_cvtsi64_si128(static_cast<int64_t>(kLanePacking[mask])));
  return _mm256_permutevar8x32_epi32(v, lanes);
#endif
}
#endif

// Bit j of the result is set when keys[j] > threshold(j), for j < 32, where
// threshold(j) is `thresholds[j]`, or `thresholds[0]` for every j when
// kBroadcast.
template <bool kBroadcast, typename Key>
uint32_t GreaterMask32(const Key* keys, const Key* thresholds) {
#if defined(__AVX512F__)
  // Compares give masks directly: two (32-bit keys) or four compares.
  constexpr int kLanes = 64 / sizeof(Key);
  const __m512i broadcast = sizeof(Key) == 4 ? _mm512_set1_epi32(thresholds[0])
                                             : _mm512_set1_epi64(thresholds[0]);
  uint32_t mask = 0;
  for (int q = 0; q < 32 / kLanes; ++q) {
    const __m512i v = _mm512_loadu_si512(keys + kLanes * q);
    const __m512i t =
        kBroadcast ? broadcast : _mm512_loadu_si512(thresholds + kLanes * q);
    uint32_t bits;
    if constexpr (sizeof(Key) == 4) {
      bits = _mm512_cmpgt_epi32_mask(v, t);
    } else {
      bits = _mm512_cmpgt_epi64_mask(v, t);
    }
    mask |= bits << (kLanes * q);
  }
  return mask;
#elif defined(__AVX2__)
  constexpr int kLanes = 32 / sizeof(Key);
  const __m256i broadcast = sizeof(Key) == 4
                                ? _mm256_set1_epi32(thresholds[0])
                                : _mm256_set1_epi64x(thresholds[0]);
  uint32_t mask = 0;
  for (int q = 0; q < 32 / kLanes; ++q) {
    const __m256i v =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(keys + kLanes * q));
    const __m256i t = kBroadcast
                          ? broadcast
                          : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                thresholds + kLanes * q));
    uint32_t bits;
    if constexpr (sizeof(Key) == 4) {
      bits = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(v, t)));
    } else {
      bits = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(v, t)));
    }
    mask |= bits << (kLanes * q);
  }
  return mask;
#else
#if defined(__SSE2__)
  if constexpr (sizeof(Key) == 4) {
    const __m128i broadcast = _mm_set1_epi32(thresholds[0]);
    uint32_t mask = 0;
    for (int q = 0; q < 8; ++q) {
      const __m128i v =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(keys + 4 * q));
      const __m128i t = kBroadcast
                            ? broadcast
                            : _mm_loadu_si128(reinterpret_cast<const __m128i*>(
                                  thresholds + 4 * q));
      mask |= static_cast<uint32_t>(
                  _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(v, t))))
              << (4 * q);
    }
    return mask;
  }
#endif
  uint32_t mask = 0;
  for (int j = 0; j < 32; ++j) {
    mask |= static_cast<uint32_t>(keys[j] > thresholds[kBroadcast ? 0 : j])
            << j;
  }
  return mask;
#endif
}

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_SIMD_MASKS_H_
