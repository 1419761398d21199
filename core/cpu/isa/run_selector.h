// Selection over one contiguous run (a row, or a segment of one): the
// engine of topk's row strategy. Keys are computed a block at a time,
// compared with a candidate buffer's threshold 32 at a time, and ordered for
// output by comparison sort or, for large k, radix sort.
#ifndef TENSOROPS_CORE_CPU_ISA_RUN_SELECTOR_H_
#define TENSOROPS_CORE_CPU_ISA_RUN_SELECTOR_H_

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/cpu/isa/candidates.h"
#include "core/cpu/isa/isa.h"  // once per instruction set
#include "core/cpu/isa/key_packing.h"
#include "core/cpu/isa/radix_sort.h"
#include "core/cpu/isa/simd_masks.h"

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

// Selects over one contiguous run: keys are computed a block at a time
// (vectorized), compared with the buffer's threshold 32 at a time, and only
// the elements above it are visited.
template <typename Traits>
class RunSelector {
 public:
  using Key = typename Traits::KeyType;
  using P = Packing<Key>;
  using Packed = typename P::Packed;
  static constexpr int64_t kBlock = 512;
  static constexpr int64_t kProbe = 32;
  // How far ahead Scan prefetches: two blocks.
  static constexpr int64_t kPrefetchElements = 2 * kBlock;

  // Returns the best min(k, n) of run[0..n), unordered; n <= kMaxRun, k > 0.
  //
  // Rows of one tensor tend to look alike (logits, activations), so a
  // threshold a little below the previous run's k-th best usually admits
  // just over k elements of the next run and skips the warm-up during which
  // a fresh threshold climbs. The guess is the lowest candidate the previous
  // run still held when it ended, used when that left a margin of at least
  // k/4 candidates. If fewer than k elements beat the guess, the run is
  // scanned again without it, so the answer never depends on the guess.
  Packed* Select(const std::byte* run, int64_t n, int64_t k, Key flip,
                 int64_t* count) {
    return SelectWith(k, count, [&] { Scan(run, n, 0, flip); });
  }

  // Whether SelectPiecesOrdered serves k as fast as SelectOrdered does (it
  // orders winners by comparison only, never by radix sort).
  static bool SelectsPieces(int64_t k) { return k < kRadixMinK; }

  // SelectOrdered for a run read as pieces (row_pieces.h): the same winners
  // in the same order, positions counted across the pieces.
  template <typename Pieces>
  Packed* SelectPiecesOrdered(const Pieces& row, int64_t k, Key flip,
                              bool sorted, int64_t* count) {
    Packed* winners = SelectWith(k, count, [&] {
      for (const auto& piece : row.pieces()) {
        Scan(piece.data, piece.size, piece.begin, flip);
      }
    });
    OrderWinners<PackedOrder<P>>(winners, *count, sorted);
    return winners;
  }

 private:
  // `scan()` offers every element of the run to buffer_.
  template <typename ScanRun>
  Packed* SelectWith(int64_t k, int64_t* count, const ScanRun& scan) {
    if (k != guess_k_) {
      has_guess_ = false;
      guess_k_ = k;
    }
    if (has_guess_ && !CandidateBuffer<Key>::UsesInsertion(k)) {
      buffer_.ResetWithGuess(k, guess_);
      scan();
      if (buffer_.count() >= k) return FinishRun(k, count);
    }
    buffer_.Reset(k);
    scan();
    return FinishRun(k, count);
  }

  Packed* FinishRun(int64_t k, int64_t* count) {
    has_guess_ = buffer_.count() >= k + k / 4;
    if (has_guess_) guess_ = buffer_.LowestKey();
    return buffer_.Finish(count);
  }

  // Offers run[0..n), the elements at positions first.., to buffer_.
  void Scan(const std::byte* run, int64_t n, int64_t first, Key flip) {
    for (int64_t start = 0; start < n; start += kBlock) {
      const int64_t block = std::min(kBlock, n - start);
      const std::byte* src = run + start * Traits::kSize;
      if (start + kPrefetchElements < n) {
        // Rows read from the network lie in slices of tens of KiB, each
        // its own allocation, which the hardware prefetcher does not run
        // ahead into; ask for the block after next while this one is read.
        const std::byte* ahead = src + kPrefetchElements * Traits::kSize;
        const int64_t bytes =
            std::min(kBlock, n - start - kPrefetchElements) * Traits::kSize;
        for (int64_t line = 0; line < bytes; line += 64) {
          __builtin_prefetch(ahead + line);
        }
      }
      for (int64_t j = 0; j < block; ++j) {
        keys_[j] = Traits::Load(src + j * Traits::kSize) ^ flip;
      }
      int64_t probe = 0;
      const int64_t position = first + start;
      for (; probe < block && !buffer_.full(); ++probe) {
        buffer_.Add(keys_[probe], position + probe);
      }
      for (; probe + kProbe <= block; probe += kProbe) {
        const Key threshold = buffer_.threshold();
        uint32_t mask = GreaterMask32<true>(keys_ + probe, &threshold);
        while (mask != 0) {
          const int64_t j = probe + std::countr_zero(mask);
          mask &= mask - 1;
          if (buffer_.Admits(keys_[j])) buffer_.Add(keys_[j], position + j);
        }
      }
      for (int64_t j = probe; j < block; ++j) {
        if (buffer_.Admits(keys_[j])) buffer_.Add(keys_[j], position + j);
      }
    }
  }

 public:
  // Select() followed by ordering the winners as TopK returns them: best
  // first when sorted, else by increasing position.
  //
  // For large k, comparison sorting dominates; instead the run is scanned
  // again for the candidates at or above the k-th best, which yields the
  // winners in position order (the unsorted answer), and a stable radix sort
  // on the key then gives the sorted answer (ties stay in position order).
  Packed* SelectOrdered(const std::byte* run, int64_t n, int64_t k, Key flip,
                        bool sorted, int64_t* count) {
    if constexpr (sizeof(Key) == 4) {
      if (sorted && k >= kRadixMinK && 4 * k >= n) {
        // Most of the run is kept: sorting all of it beats selecting first.
        ordered_.resize(n);
        scratch_.resize(n);
        for (int64_t start = 0; start < n; start += kBlock) {
          const int64_t block = std::min(kBlock, n - start);
          const std::byte* src = run + start * Traits::kSize;
          for (int64_t j = 0; j < block; ++j) {
            ordered_[start + j] = P::Pack(
                Traits::Load(src + j * Traits::kSize) ^ flip, start + j);
          }
        }
        RadixSortByKeyDescending<P>(ordered_.data(), scratch_.data(), n);
        *count = k;
        return ordered_.data();
      }
    }
    Packed* winners = Select(run, n, k, flip, count);
    if constexpr (sizeof(Key) == 4) {
      if (*count >= kRadixMinK) {
        const Packed kth = *std::min_element(winners, winners + *count);
        const Key kth_key = P::KeyOf(kth);
        ordered_.resize(*count);
        scratch_.resize(*count);
        int64_t found = 0;
        for (int64_t start = 0; start < n; start += kBlock) {
          const int64_t block = std::min(kBlock, n - start);
          const std::byte* src = run + start * Traits::kSize;
          for (int64_t j = 0; j < block; ++j) {
            keys_[j] = Traits::Load(src + j * Traits::kSize) ^ flip;
          }
          for (int64_t j = 0; j < block; ++j) {
            if (keys_[j] < kth_key) continue;
            const Packed candidate = P::Pack(keys_[j], start + j);
            if (candidate >= kth) ordered_[found++] = candidate;
          }
        }
        if (sorted)
          RadixSortByKeyDescending<P>(ordered_.data(), scratch_.data(), found);
        return ordered_.data();
      }
    }
    OrderWinners<PackedOrder<P>>(winners, *count, sorted);
    return winners;
  }

 private:
  static constexpr int64_t kRadixMinK = 128;

  CandidateBuffer<Key> buffer_;
  bool has_guess_ = false;
  Key guess_ = 0;
  int64_t guess_k_ = -1;
  std::vector<Packed> ordered_;
  std::vector<Packed> scratch_;
  alignas(64) Key keys_[kBlock];
};

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_RUN_SELECTOR_H_
