// Splitting long topk slices into segments selected in parallel, and the
// one merge of the segments' winners that both the row and the column
// strategy use. The global best k of a slice lie among its segments' best
// k, since an element's rank can only improve within its segment.
#ifndef TENSOROPS_CORE_CPU_ISA_SEGMENTS_H_
#define TENSOROPS_CORE_CPU_ISA_SEGMENTS_H_

#include <cstdint>
#include <vector>

#include "core/cpu/isa/candidates.h"
#include "core/cpu/isa/isa.h"  // once per instruction set

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

// Below this many elements per task, splitting costs more than it saves.
constexpr int64_t kMinElementsPerTask = 32768;

// A segment's winner with its position in the whole slice, for segments of
// rows longer than a packed position can address (kMaxRun per segment, but
// no bound on the row).
template <typename Key>
struct SliceWinner {
  Key key;
  int64_t position;
};

// topk's order on SliceWinners: larger key first, then lower position, as
// PackedOrder orders packed candidates.
template <typename Key>
struct SliceWinnerOrder {
  using Item = SliceWinner<Key>;
  bool operator()(const Item& a, const Item& b) const {
    return a.key > b.key || (a.key == b.key && a.position < b.position);
  }
  static int64_t PositionOf(const Item& a) { return a.position; }
};

// Merges the winners of a slice's segments: concatenates
// segment_winners[0..) into `merged`, keeps the best k (all when they hold
// fewer) and orders them as TopK returns them (OrderWinners). Returns the
// count kept, in merged[0..count). `Order` is PackedOrder when the items'
// positions are global to the slice, else SliceWinnerOrder. Since Order is
// a strict total order, the result depends only on the set of items.
template <typename Order>
int64_t MergeSegmentWinners(
    const std::vector<std::vector<typename Order::Item>>& segment_winners,
    int64_t k, bool sorted, std::vector<typename Order::Item>& merged) {
  merged.clear();
  for (const auto& winners : segment_winners) {
    merged.insert(merged.end(), winners.begin(), winners.end());
  }
  const int64_t count =
      KeepBest<Order>(merged.data(), static_cast<int64_t>(merged.size()), k);
  OrderWinners<Order>(merged.data(), count, sorted);
  return count;
}

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_SEGMENTS_H_
