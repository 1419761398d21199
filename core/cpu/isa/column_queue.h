// A queue of the elements that pass their column's threshold, filled row by
// row without branches, for the column scan (column_strategy.h).
//
// A block of columns admits a few elements per row (about 7 of 256 columns
// for k = 50 of 4096 rows), at unpredictable columns; visiting each one as
// its compare mask is decoded costs a branch mispredict or two per element,
// more than the rest of the scan. Instead every row's passing elements are
// packed to the end of this queue with lane permutations (a count, never a
// branch), and the queue is later drained into the candidate buffers in one
// predictable loop.
//
// Compiled once per instruction set: include only from a translation unit
// that defines TENSOROPS_CPU_ISA; only the AVX2 and AVX-512 clones have it
// (TENSOROPS_HAS_COLUMN_QUEUE).
#ifndef TENSOROPS_CORE_CPU_ISA_COLUMN_QUEUE_H_
#define TENSOROPS_CORE_CPU_ISA_COLUMN_QUEUE_H_

#include "core/cpu/isa/isa.h"  // once per instruction set
#include "core/cpu/isa/simd_masks.h"

#if defined(__AVX2__)
#include <immintrin.h>

#include <bit>
#include <cstdint>
#endif

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

#if defined(__AVX2__)
#define TENSOROPS_HAS_COLUMN_QUEUE 1

// For 32-bit order keys; at most kMaxColumns columns, and rows counted from
// a base that the owner moves forward at least every kMaxRows rows.
class ColumnQueue {
 public:
  static constexpr int64_t kMaxColumns = int64_t{1} << 16;
  static constexpr int64_t kMaxRows = int64_t{1} << 16;
  static constexpr int64_t kCapacity = 2048;

  // Whether one more row of `padded_width` columns surely fits.
  bool HasRoomForRow(int64_t padded_width) const {
    return size_ + padded_width <= kCapacity;
  }

#if defined(__AVX512F__)
  static constexpr int64_t kLanes = 16;
#else
  static constexpr int64_t kLanes = 8;
#endif

  // Queues each column w < padded_width (a multiple of kLanes) of row `row`
  // (counted from the base, < kMaxRows) whose keys[w] > thresholds[w].
  // Requires HasRoomForRow(padded_width).
  void AddRow(const int32_t* keys, const int32_t* thresholds,
              int64_t padded_width, int64_t row) {
#if defined(__AVX512F__)
    __m512i entry =
        _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(row << 16)),
                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                           12, 13, 14, 15));
    const __m512i step = _mm512_set1_epi32(16);
    for (int64_t w = 0; w < padded_width; w += 16) {
      const __m512i key = _mm512_loadu_si512(keys + w);
      const __mmask16 mask =
          _mm512_cmpgt_epi32_mask(key, _mm512_loadu_si512(thresholds + w));
      // Compress into a register, then store: the memory form is slow on
      // some processors.
      _mm512_storeu_si512(keys_ + size_,
                          _mm512_maskz_compress_epi32(mask, key));
      _mm512_storeu_si512(entries_ + size_,
                          _mm512_maskz_compress_epi32(mask, entry));
      size_ += std::popcount(static_cast<uint32_t>(mask));
      entry = _mm512_add_epi32(entry, step);
    }
#else
    __m256i entry =
        _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(row << 16)),
                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i step = _mm256_set1_epi32(8);
    for (int64_t w = 0; w < padded_width; w += 8) {
      const __m256i key =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(keys + w));
      const __m256i threshold =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(thresholds + w));
      const uint32_t mask = static_cast<uint32_t>(_mm256_movemask_ps(
          _mm256_castsi256_ps(_mm256_cmpgt_epi32(key, threshold))));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(keys_ + size_),
                          PackLanes8(key, mask));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(entries_ + size_),
                          PackLanes8(entry, mask));
      size_ += std::popcount(mask);
      entry = _mm256_add_epi32(entry, step);
    }
#endif
  }

  int64_t size() const { return size_; }
  int32_t key(int64_t e) const { return keys_[e]; }
  int64_t column(int64_t e) const { return entries_[e] & 0xffff; }
  int64_t row(int64_t e) const {
    return static_cast<uint32_t>(entries_[e]) >> 16;
  }
  void Clear() { size_ = 0; }

 private:
  int64_t size_ = 0;
  // Room for a full last store.
  alignas(64) int32_t keys_[kCapacity + kLanes];
  // Per element: row << 16 | column.
  alignas(64) int32_t entries_[kCapacity + kLanes];
};

#endif  // __AVX2__

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_COLUMN_QUEUE_H_
