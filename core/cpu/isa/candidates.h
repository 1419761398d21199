// Topk candidates: the orders on packed (key, position) candidates, keeping
// and ordering the best k, the bounded candidate buffer a scan fills, and
// writing the winners to the outputs. Shared by the row strategy (through
// run_selector.h) and the column strategy.
#ifndef TENSOROPS_CORE_CPU_ISA_CANDIDATES_H_
#define TENSOROPS_CORE_CPU_ISA_CANDIDATES_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/cpu/isa/isa.h"  // once per instruction set
#include "core/cpu/isa/key_packing.h"

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

// Longest run a selector handles at once (positions must fit Position).
constexpr int64_t kMaxRun = int64_t{1} << 31;

// An Order says how selection items rank: Order()(a, b) is true when `a`
// ranks above `b` in topk's order (a strict total order), and
// Order::PositionOf(a) is a's position. Two exist: PackedOrder, for packed
// candidates (positions within one run, or global where they fit), and
// SliceWinnerOrder (segments.h), for winners of segments whose global
// positions may not fit a packed position.
template <typename P>
struct PackedOrder {
  using Item = typename P::Packed;
  bool operator()(Item a, Item b) const { return a > b; }
  static typename P::Position PositionOf(Item a) { return P::PositionOf(a); }
};

// Increasing position, for an Order's items.
template <typename Order>
struct ByPosition {
  using Item = typename Order::Item;
  bool operator()(const Item& a, const Item& b) const {
    return Order::PositionOf(a) < Order::PositionOf(b);
  }
};

// Keeps the best `k` of items[0..count) in items[0..k), the k-th best last;
// returns the new count.
template <typename Order>
int64_t KeepBest(typename Order::Item* items, int64_t count, int64_t k) {
  if (count <= k) return count;
  std::nth_element(items, items + (k - 1), items + count, Order());
  return k;
}

// Orders the final winners as TopK returns them: best first when sorted,
// else by increasing position.
template <typename Order>
void OrderWinners(typename Order::Item* winners, int64_t count, bool sorted) {
  if (sorted) {
    std::sort(winners, winners + count, Order());
  } else {
    std::sort(winners, winners + count, ByPosition<Order>());
  }
}

// Copies `count` winners (ordered) to the outputs, `out_stride` elements
// apart: values bit for bit from `source`, where position p's element is
// p * source_stride elements in, and indices as the positions.
template <typename Traits, typename Order>
void WriteWinners(const typename Order::Item* winners, int64_t count,
                  const std::byte* source, int64_t source_stride,
                  std::byte* values, int64_t* indices, int64_t out_stride) {
  for (int64_t j = 0; j < count; ++j) {
    const int64_t position =
        static_cast<int64_t>(Order::PositionOf(winners[j]));
    std::memcpy(values + j * out_stride * Traits::kSize,
                source + position * source_stride * Traits::kSize,
                Traits::kSize);
    indices[j * out_stride] = position;
  }
}

// Bounded candidate buffer for one run. Once it holds k candidates, only
// elements strictly better than its k-th best can enter: a later element
// that ties it has a higher position and so ranks below it. On random data
// few do; when the buffer fills it is pruned back to k with nth_element, so
// adversarial orders (ascending input) stay linear.
//
// A run may also start from a guessed threshold (see RunSelector): then only
// elements above the guess enter from the start, and the answer is valid only
// if at least k did.
template <typename Key>
class CandidateBuffer {
 public:
  static constexpr int64_t kInsertionMaxK = 16;

  using P = Packing<Key>;
  using Packed = typename P::Packed;

  void Reset(int64_t k) {
    k_ = k;
    capacity_ = 2 * k + 64;
    if (static_cast<int64_t>(storage_.size()) < capacity_) {
      storage_.resize(capacity_);
    }
    count_ = 0;
    threshold_ = 0;
    active_ = false;
  }

  // Starts with only keys above `guess` admitted. Not for insertion mode.
  void ResetWithGuess(int64_t k, Key guess) {
    Reset(k);
    threshold_ = guess;
    active_ = true;
  }

  static bool UsesInsertion(int64_t k) { return k <= kInsertionMaxK; }

  // Whether an element with `key` could still be among the best k.
  bool Admits(Key key) const { return !active_ || key > threshold_; }
  Key threshold() const { return threshold_; }
  bool full() const { return active_; }
  int64_t count() const { return count_; }

  // Requires Admits(key).
  void Add(Key key, typename P::Position position) {
    const Packed candidate = P::Pack(key, position);
    if (UsesInsertion(k_)) {
      // Small k: keep the best k sorted, so the threshold is always the
      // exact k-th best seen so far.
      int64_t i = active_ ? k_ - 1 : count_++;
      for (; i > 0 && storage_[i - 1] < candidate; --i) {
        storage_[i] = storage_[i - 1];
      }
      storage_[i] = candidate;
      if (count_ == k_) {
        active_ = true;
        threshold_ = P::KeyOf(storage_[k_ - 1]);
      }
      return;
    }
    storage_[count_++] = candidate;
    if (count_ == capacity_ || (!active_ && count_ == k_)) Prune();
  }

  // The lowest key held (0 if none).
  Key LowestKey() const {
    if (count_ == 0) return 0;
    Packed lowest = storage_[0];
    for (int64_t i = 1; i < count_; ++i) lowest = std::min(lowest, storage_[i]);
    return P::KeyOf(lowest);
  }

  int64_t k() const { return k_; }

  // Every candidate held (at least the best min(k, added)), unordered.
  Packed* Held(int64_t* count) {
    *count = count_;
    return storage_.data();
  }

  // The best min(k, added) candidates, unordered.
  Packed* Finish(int64_t* count) {
    count_ = KeepBest<PackedOrder<P>>(storage_.data(), count_, k_);
    *count = count_;
    return storage_.data();
  }

 private:
  // Keeps the best k with the k-th best last (also when exactly k are held).
  void Prune() {
    std::nth_element(storage_.data(), storage_.data() + (k_ - 1),
                     storage_.data() + count_, PackedOrder<P>());
    count_ = k_;
    threshold_ = P::KeyOf(storage_[k_ - 1]);
    active_ = true;
  }

  std::vector<Packed> storage_;
  int64_t k_ = 0;
  int64_t capacity_ = 0;
  int64_t count_ = 0;
  Key threshold_ = 0;
  bool active_ = false;
};

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_CANDIDATES_H_
