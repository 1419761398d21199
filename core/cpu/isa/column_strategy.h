// topk along a strided dimension (inner > 1): a task takes a block of
// neighbouring columns and walks the input row by row, each column keeping
// its own candidate buffer; few long column blocks are split into segments
// of rows selected in parallel.
#ifndef TENSOROPS_CORE_CPU_ISA_COLUMN_STRATEGY_H_
#define TENSOROPS_CORE_CPU_ISA_COLUMN_STRATEGY_H_

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "core/cpu/isa/candidates.h"
#include "core/cpu/isa/column_queue.h"
#include "core/cpu/isa/isa.h"  // once per instruction set
#include "core/cpu/isa/key_packing.h"
#include "core/cpu/isa/rank_order.h"
#include "core/cpu/isa/segments.h"
#include "core/cpu/isa/simd_masks.h"
#include "core/op_plans.h"

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

// Rows fetched ahead of the scan (see ColumnScanner::Scan).
constexpr int64_t kPrefetchRows = 4;

// inner > 1: slices are strided. A task takes a block of neighbouring
// columns and walks the input row by row, so every read is a contiguous
// stretch of a row; each column keeps its own candidate buffer and
// threshold, and a vectorized compare of a row's keys with the thresholds
// skips most elements.
template <typename Traits>
class ColumnScanner {
 public:
  using Key = typename Traits::KeyType;
  using P = Packing<Key>;
  using Packed = typename P::Packed;

  explicit ColumnScanner(int64_t width)
      : buffers_(width),
        // Padded to whole 32-lane groups for the vector compare.
        keys_((width + 31) / 32 * 32),
        thresholds_(keys_.size()) {}

  // Scans rows [s_begin, s_end) of the `w_count` columns starting at `slab`
  // (rows `row_stride` bytes apart), keeping each column's best k; positions
  // are row numbers. k > 0.
  //
  // Columns of one tensor tend to look alike, as rows do (see RunSelector):
  // when `guess` is set, column w starts from the threshold that column w
  // of the previous Scan left (the lowest candidate it held, where that
  // left a margin of k/4), so few elements enter its buffer. A column that
  // admits fewer than k elements above its guess is scanned again alone
  // without it, so the answer never depends on the guess.
  void Scan(const std::byte* slab, int64_t row_stride, int64_t w_count,
            int64_t s_begin, int64_t s_end, int64_t k, Key flip,
            bool guess = false) {
    // Unused lanes (past w_count) never pass: their keys stay at the minimum.
    std::fill(keys_.begin(), keys_.end(), std::numeric_limits<Key>::min());
    std::fill(thresholds_.begin(), thresholds_.end(),
              std::numeric_limits<Key>::min());
    // A column the previous Scan left no guess for takes the lowest guess
    // of the others.
    bool guessed =
        guess && k == guess_k_ && !CandidateBuffer<Key>::UsesInsertion(k);
    Key lowest_guess = std::numeric_limits<Key>::max();
    bool any_guess = false;
    for (int64_t w = 0; guessed && w < w_count; ++w) {
      if (has_guess_[w]) {
        lowest_guess = std::min(lowest_guess, guesses_[w]);
        any_guess = true;
      }
    }
    guessed = guessed && any_guess;
    for (int64_t w = 0; w < w_count; ++w) {
      if (guessed) {
        thresholds_[w] = has_guess_[w] ? guesses_[w] : lowest_guess;
        buffers_[w].ResetWithGuess(k, thresholds_[w]);
      } else {
        buffers_[w].Reset(k);
      }
    }
    guess_k_ = k;
#if defined(TENSOROPS_HAS_COLUMN_QUEUE)
    if constexpr (sizeof(Key) == 4) {
      // With guesses every buffer is active from the start, and its
      // threshold moves only when it prunes (k > kInsertionMaxK): elements
      // can wait in the queue.
      if (guessed && w_count <= ColumnQueue::kMaxColumns) {
        ScanRowsQueued(slab, row_stride, w_count, s_begin, s_end, flip);
      } else {
        ScanRows(slab, row_stride, w_count, s_begin, s_end, k, flip, guessed);
      }
    } else {
      ScanRows(slab, row_stride, w_count, s_begin, s_end, k, flip, guessed);
    }
#else
    ScanRows(slab, row_stride, w_count, s_begin, s_end, k, flip, guessed);
#endif
    if (!guessed) return;
    for (int64_t w = 0; w < w_count; ++w) {
      if (buffers_[w].count() >= std::min(k, s_end - s_begin)) continue;
      // The guess was too high for this column.
      CandidateBuffer<Key>& buffer = buffers_[w];
      buffer.Reset(k);
      const std::byte* column = slab + w * Traits::kSize;
      for (int64_t s = s_begin; s < s_end; ++s) {
        const Key key = Traits::Load(column + s * row_stride) ^ flip;
        if (buffer.Admits(key)) buffer.Add(key, s);
      }
    }
  }

  // Column w's best candidates, unordered; keeps column w's guess for the
  // next Scan.
  Packed* Finish(int64_t w, int64_t* count) {
    KeepGuess(w);
    return buffers_[w].Finish(count);
  }

  // Column w's best candidates, ordered as TopK returns them; keeps column
  // w's guess for the next Scan.
  Packed* FinishOrdered(int64_t w, bool sorted, int64_t* count) {
    KeepGuess(w);
    return OrderBest(buffers_[w], sorted, rank_, count);
  }

 private:
  // Row s's keys into keys_[0..w_count), fetching row s + kPrefetchRows:
  // rows are far apart, and the hardware prefetcher does not cross pages.
  void LoadRow(const std::byte* slab, int64_t row_stride, int64_t w_count,
               int64_t s, int64_t s_end, Key flip) {
    const std::byte* line = slab + s * row_stride;
    if (s + kPrefetchRows < s_end) {
      const std::byte* ahead = line + kPrefetchRows * row_stride;
      const int64_t stretch = w_count * static_cast<int64_t>(Traits::kSize);
      for (int64_t b = 0; b < stretch; b += 64) __builtin_prefetch(ahead + b);
    }
    for (int64_t w = 0; w < w_count; ++w) {
      keys_[w] = Traits::Load(line + w * Traits::kSize) ^ flip;
    }
  }

  // Scan's rows, each element above its column's threshold added as it is
  // found. Without guesses, the first k rows fill every buffer.
  void ScanRows(const std::byte* slab, int64_t row_stride, int64_t w_count,
                int64_t s_begin, int64_t s_end, int64_t k, Key flip,
                bool all_full) {
    for (int64_t s = s_begin; s < s_end; ++s) {
      LoadRow(slab, row_stride, w_count, s, s_end, flip);
      if (!all_full) {
        for (int64_t w = 0; w < w_count; ++w) buffers_[w].Add(keys_[w], s);
        all_full = s + 1 - s_begin >= k;
        if (all_full) {
          for (int64_t w = 0; w < w_count; ++w) {
            thresholds_[w] = buffers_[w].threshold();
          }
        }
        continue;
      }
      for (int64_t w0 = 0; w0 < w_count; w0 += 32) {
        uint32_t mask = GreaterMask32<false>(&keys_[w0], &thresholds_[w0]);
        while (mask != 0) {
          const int64_t w = w0 + std::countr_zero(mask);
          mask &= mask - 1;
          buffers_[w].Add(keys_[w], s);
          thresholds_[w] = buffers_[w].threshold();
        }
      }
    }
  }

#if defined(TENSOROPS_HAS_COLUMN_QUEUE)
  // Scan's rows with every buffer active: the elements above their
  // column's threshold are queued, and drained into the buffers when the
  // queue fills and at the end.
  void ScanRowsQueued(const std::byte* slab, int64_t row_stride,
                      int64_t w_count, int64_t s_begin, int64_t s_end,
                      Key flip) {
    // Within keys_' padding to 32 lanes.
    const int64_t padded = (w_count + ColumnQueue::kLanes - 1) /
                           ColumnQueue::kLanes * ColumnQueue::kLanes;
    int64_t base = s_begin;
    queue_.Clear();
    for (int64_t s = s_begin; s < s_end; ++s) {
      LoadRow(slab, row_stride, w_count, s, s_end, flip);
      if (!queue_.HasRoomForRow(padded) || s - base >= ColumnQueue::kMaxRows) {
        DrainQueue(base, w_count);
        base = s;
      }
      queue_.AddRow(keys_.data(), thresholds_.data(), padded, s - base);
    }
    DrainQueue(base, w_count);
  }

  // Adds the queued elements (rows counted from `base`) to their buffers,
  // in row order per column as a direct scan would, and updates the
  // thresholds.
  void DrainQueue(int64_t base, int64_t w_count) {
    for (int64_t e = 0; e < queue_.size(); ++e) {
      CandidateBuffer<Key>& buffer = buffers_[queue_.column(e)];
      const Key key = queue_.key(e);
      if (buffer.Admits(key)) buffer.Add(key, base + queue_.row(e));
    }
    queue_.Clear();
    for (int64_t w = 0; w < w_count; ++w) {
      thresholds_[w] = buffers_[w].threshold();
    }
  }
#endif

  void KeepGuess(int64_t w) {
    const int64_t k = guess_k_;
    has_guess_[w] = buffers_[w].count() >= k + k / 4;
    if (has_guess_[w]) guesses_[w] = buffers_[w].LowestKey();
  }

  std::vector<CandidateBuffer<Key>> buffers_;
  std::vector<Key> keys_;
  std::vector<Key> thresholds_;
  // Per column: whether the previous Scan left a guess, and the guess.
  std::vector<bool> has_guess_ = std::vector<bool>(buffers_.size(), false);
  std::vector<Key> guesses_ = std::vector<Key>(buffers_.size());
  int64_t guess_k_ = -1;
  RankOrder rank_;
#if defined(TENSOROPS_HAS_COLUMN_QUEUE)
  ColumnQueue queue_;
#endif
};

// inner > 1: column blocks scanned by ColumnScanner, one task per block, or
// each block split into segments of rows when there are few blocks.
template <typename Traits>
void TopKColumns(const TopKPlan& plan, typename Traits::KeyType flip,
                 bool sorted, const std::byte* in, std::byte* out_values,
                 int64_t* out_indices) {
  using Key = typename Traits::KeyType;
  using Order = PackedOrder<Packing<Key>>;
  using Packed = typename Order::Item;
  const DimGeometry& g = plan.input;
  const int64_t k = plan.k;
  const int64_t size = g.size;
  const int64_t row_stride = g.inner * Traits::kSize;
  // Columns per task: a row stretch of at most 1 KiB, and candidate buffers
  // of at most ~1 MiB.
  const int64_t buffer_bytes = (2 * k + 64) * sizeof(Packed);
  const int64_t width =
      std::clamp<int64_t>(std::min<int64_t>(1024 / Traits::kSize,
                                            (int64_t{1} << 20) / buffer_bytes),
                          1, g.inner);
  const int64_t blocks_per_outer = (g.inner + width - 1) / width;
  const int64_t blocks = g.outer * blocks_per_outer;
  auto slab_of = [&](int64_t t, int64_t* i0, int64_t* w_count) {
    const int64_t o = t / blocks_per_outer;
    *i0 = (t % blocks_per_outer) * width;
    *w_count = std::min(width, g.inner - *i0);
    return in + (o * size * g.inner + *i0) * Traits::kSize;
  };
  auto first_output = [&](int64_t t, int64_t i0) {
    return (t / blocks_per_outer) * k * g.inner + i0;
  };

  const int64_t threads = tbb::this_task_arena::max_concurrency();
  const int64_t segments =
      std::min<int64_t>(4 * threads, size * width / (kMinElementsPerTask * 4));
  if (blocks >= 2 * threads || segments < 2) {
    // One scanner a thread, so guesses pass from block to block.
    tbb::enumerable_thread_specific<ColumnScanner<Traits>> scanners(
        [&] { return ColumnScanner<Traits>(width); });
    tbb::parallel_for(
        tbb::blocked_range<int64_t>(0, blocks, 1),
        [&](const tbb::blocked_range<int64_t>& range) {
          ColumnScanner<Traits>& scanner = scanners.local();
          std::vector<Packed*> winners(width);
          for (int64_t t = range.begin(); t < range.end(); ++t) {
            int64_t i0 = 0;
            int64_t w_count = 0;
            const std::byte* slab = slab_of(t, &i0, &w_count);
            scanner.Scan(slab, row_stride, w_count, 0, size, k, flip,
                         /*guess=*/true);
            int64_t count = 0;
            for (int64_t w = 0; w < w_count; ++w) {
              // The same count for all.
              winners[w] = scanner.FinishOrdered(w, sorted, &count);
            }
            // Output rows are far apart: each is written as one contiguous
            // stretch of the block's columns. Values are re-read from the
            // input at the winners' positions.
            const int64_t first = first_output(t, i0);
            for (int64_t j = 0; j < count; ++j) {
              std::byte* values =
                  out_values + (first + j * g.inner) * Traits::kSize;
              int64_t* indices = out_indices + first + j * g.inner;
              for (int64_t w = 0; w < w_count; ++w) {
                const int64_t position =
                    static_cast<int64_t>(Order::PositionOf(winners[w][j]));
                std::memcpy(values + w * Traits::kSize,
                            slab + (position * g.inner + w) * Traits::kSize,
                            Traits::kSize);
                indices[w] = position;
              }
            }
          }
        });
    return;
  }

  // Few, long column blocks (e.g. [16M, 2] along dim 0): each block's rows
  // are split into segments scanned in parallel, and each column's segment
  // winners merged, as for few long rows.
  for (int64_t t = 0; t < blocks; ++t) {
    int64_t i0 = 0;
    int64_t w_count = 0;
    const std::byte* slab = slab_of(t, &i0, &w_count);
    // partial[column][segment]: that segment's winners for that column.
    std::vector<std::vector<std::vector<Packed>>> partial(
        w_count, std::vector<std::vector<Packed>>(segments));
    tbb::parallel_for(int64_t{0}, segments, [&](int64_t seg) {
      const int64_t begin = size * seg / segments;
      const int64_t end = size * (seg + 1) / segments;
      if (end == begin) return;
      ColumnScanner<Traits> scanner(width);
      scanner.Scan(slab, row_stride, w_count, begin, end,
                   std::min(k, end - begin), flip);
      for (int64_t w = 0; w < w_count; ++w) {
        int64_t count = 0;
        Packed* winners = scanner.Finish(w, &count);
        partial[w][seg].assign(winners, winners + count);
      }
    });
    // Positions are global row numbers, so packed values compare across
    // segments exactly as within one.
    std::vector<Packed> merged;
    for (int64_t w = 0; w < w_count; ++w) {
      const int64_t count =
          MergeSegmentWinners<Order>(partial[w], k, sorted, merged);
      const int64_t first = first_output(t, i0) + w;
      WriteWinners<Traits, Order>(
          merged.data(), count, slab + w * Traits::kSize, g.inner,
          out_values + first * Traits::kSize, out_indices + first, g.inner);
    }
  }
}

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_COLUMN_STRATEGY_H_
