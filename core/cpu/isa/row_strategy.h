// topk along a contiguous last dimension (inner == 1): whole rows per task
// when there are enough of them, else each of few long rows split into
// segments selected in parallel. Rows come from a contiguous input or, for
// the chunked entry point, are gathered from the chunks.
//
// Compiled once per instruction set: include only from a translation unit
// that defines TENSOROPS_CPU_ISA (see core/cpu/topk_kernel_generic.cc).
#ifndef TENSOROPS_CORE_CPU_ISA_ROW_STRATEGY_H_
#define TENSOROPS_CORE_CPU_ISA_ROW_STRATEGY_H_

#ifndef TENSOROPS_CPU_ISA
#error "define TENSOROPS_CPU_ISA (the instruction set) before this header"
#endif

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/chunked_tensor.h"
#include "core/cpu/isa/candidates.h"
#include "core/cpu/isa/key_packing.h"
#include "core/cpu/isa/row_pieces.h"
#include "core/cpu/isa/run_selector.h"
#include "core/cpu/isa/segments.h"
#include "core/cpu/isa/short_rows.h"
#include "core/cpu/parallel_rows.h"
#include "core/op_plans.h"

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

// Longest row a chunked input is gathered row by row for (so each row stays
// in the core's L2 cache while it is selected from); longer rows are read
// from a contiguous copy.
constexpr int64_t kMaxGatheredRowBytes = int64_t{1} << 20;

// Whether TopKRows selects each row whole, one task per block of rows
// (rather than splitting few long rows into segments).
bool SelectsWholeRows(int64_t rows, int64_t size, int64_t threads) {
  return (rows >= 2 * threads || size < 2 * kMinElementsPerTask) &&
         size <= kMaxRun;
}

// Rows of a contiguous input, read in place.
class ContiguousRows {
 public:
  ContiguousRows(const std::byte* in, int64_t row_bytes)
      : in_(in), row_bytes_(row_bytes) {}
  const std::byte* Row(int64_t r) { return in_ + r * row_bytes_; }
  bool Pieces(int64_t /*r*/, int64_t /*size*/, RowPieces& /*row*/) {
    return false;
  }

 private:
  const std::byte* in_;
  int64_t row_bytes_;
};

// Rows of a chunked input: in place when a row lies in one chunk, else
// selected from its pieces (row_pieces.h) or, where that does not serve,
// gathered into a row-sized buffer that stays in cache for the selection.
class GatheredRows {
 public:
  GatheredRows(const ChunkedBytes& bytes, int64_t row_bytes)
      : reader_(bytes), row_bytes_(row_bytes) {}
  const std::byte* Row(int64_t r) {
    if (scratch_ == nullptr) {
      scratch_ = std::make_unique_for_overwrite<std::byte[]>(row_bytes_);
    }
    return reader_.Read(static_cast<size_t>(r * row_bytes_),
                        static_cast<size_t>(row_bytes_), scratch_.get());
  }
  // Row r (of `size` elements) as pieces in place, when it spans chunks;
  // false when it lies in one (Row reads it in place) or must be copied.
  bool Pieces(int64_t r, int64_t size, RowPieces& row) {
    return row.Load(reader_, static_cast<size_t>(r * row_bytes_), size,
                    static_cast<size_t>(row_bytes_ / size));
  }

 private:
  ChunkedBytes::Reader reader_;
  int64_t row_bytes_;
  std::unique_ptr<std::byte[]> scratch_;
};

// inner == 1 and SelectsWholeRows: each task selects a block of rows, read
// through a row source made by `make_rows()` (one per task).
template <typename Traits, typename MakeRows>
void TopKWholeRows(const TopKPlan& plan, typename Traits::KeyType flip,
                   bool sorted, const MakeRows& make_rows,
                   std::byte* out_values, int64_t* out_indices) {
  using Order = PackedOrder<Packing<typename Traits::KeyType>>;
  using Packed = typename Order::Item;
  const int64_t rows = plan.input.outer;
  const int64_t size = plan.input.size;
  const int64_t k = plan.k;
  auto select_rows = [&](const tbb::blocked_range<int64_t>& range) {
    RunSelector<Traits> selector;
    auto source = make_rows();
    bool use_pieces =
        k > 0 && size > 0 && RunSelector<Traits>::SelectsPieces(k);
    RowPieces pieces;
#if defined(TENSOROPS_HAS_SHORT_ROW_SELECTOR)
    constexpr bool kShortKeys = sizeof(typename Traits::KeyType) == 4;
    using ShortRows =
        std::conditional_t<kShortKeys, ShortRowSelector<Traits>, void*>;
    ShortRows short_rows{};
    bool use_short_rows = false;
    if constexpr (kShortKeys) {
      use_short_rows = ShortRowSelector<Traits>::Handles(size, k);
      use_pieces = use_pieces && !use_short_rows;
    }
#endif
    for (int64_t r = range.begin(); r < range.end(); ++r) {
      if (use_pieces && source.Pieces(r, size, pieces)) {
        int64_t count = 0;
        const Packed* winners =
            selector.SelectPiecesOrdered(pieces, k, flip, sorted, &count);
        WriteWinnersFromPieces<Traits, Order>(
            winners, count, pieces, out_values + r * k * Traits::kSize,
            out_indices + r * k);
        continue;
      }
      const std::byte* run = source.Row(r);
#if defined(TENSOROPS_HAS_SHORT_ROW_SELECTOR)
      if constexpr (kShortKeys) {
        if (use_short_rows &&
            short_rows.Select(run, size, k, flip, sorted,
                              out_values + r * k * Traits::kSize,
                              out_indices + r * k)) {
          continue;
        }
      }
#endif
      int64_t count = 0;
      const Packed* winners =
          selector.SelectOrdered(run, size, k, flip, sorted, &count);
      WriteWinners<Traits, Order>(winners, count, run, 1,
                                  out_values + r * k * Traits::kSize,
                                  out_indices + r * k, 1);
    }
  };
  ParallelForRanges(rows, std::max<int64_t>(1, kMinElementsPerTask / size),
                    select_rows);
}

// inner == 1: each slice is a contiguous row.
template <typename Traits>
void TopKRows(const TopKPlan& plan, typename Traits::KeyType flip, bool sorted,
              const std::byte* in, std::byte* out_values,
              int64_t* out_indices) {
  using Key = typename Traits::KeyType;
  using P = Packing<Key>;
  using Packed = typename P::Packed;
  using Order = SliceWinnerOrder<Key>;
  using Winner = SliceWinner<Key>;
  const int64_t rows = plan.input.outer;
  const int64_t size = plan.input.size;
  const int64_t k = plan.k;
  const int64_t threads = tbb::this_task_arena::max_concurrency();
  const int64_t row_bytes = size * Traits::kSize;

  if (SelectsWholeRows(rows, size, threads)) {
    TopKWholeRows<Traits>(
        plan, flip, sorted, [&] { return ContiguousRows(in, row_bytes); },
        out_values, out_indices);
    return;
  }

  // Few long rows: each row is split into segments selected in parallel and
  // their winners merged (segments.h). A row may be longer than a packed
  // position can address, so the winners carry their row positions apart.
  const int64_t segments = std::max<int64_t>(
      {std::min<int64_t>(size / kMinElementsPerTask, 4 * threads),
       (size + kMaxRun - 1) / kMaxRun, 1});
  std::vector<std::vector<Winner>> partial(segments);
  std::vector<Winner> merged;
  for (int64_t r = 0; r < rows; ++r) {
    const std::byte* row = in + r * row_bytes;
    tbb::parallel_for(int64_t{0}, segments, [&](int64_t s) {
      const int64_t begin = size * s / segments;
      const int64_t end = size * (s + 1) / segments;
      partial[s].clear();
      if (end == begin) return;
      RunSelector<Traits> selector;
      int64_t count = 0;
      Packed* winners =
          selector.Select(row + begin * Traits::kSize, end - begin,
                          std::min(k, end - begin), flip, &count);
      for (int64_t j = 0; j < count; ++j) {
        partial[s].push_back(
            {P::KeyOf(winners[j]),
             begin + static_cast<int64_t>(P::PositionOf(winners[j]))});
      }
    });
    const int64_t count =
        MergeSegmentWinners<Order>(partial, k, sorted, merged);
    WriteWinners<Traits, Order>(merged.data(), count, row, 1,
                                out_values + r * k * Traits::kSize,
                                out_indices + r * k, 1);
  }
}

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_ROW_STRATEGY_H_
