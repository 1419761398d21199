#include "core/cpu/topk_kernel.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu/order_keys.h"

namespace tensorops::cpu {
namespace {

template <typename Key>
struct Candidate {
  Key key;
  int64_t index;
};

// Topk's total order: larger key first, and the lower index among equal keys.
template <typename Key>
bool Better(const Candidate<Key>& a, const Candidate<Key>& b) {
  return a.key > b.key || (a.key == b.key && a.index < b.index);
}

template <typename Key>
bool LowerIndex(const Candidate<Key>& a, const Candidate<Key>& b) {
  return a.index < b.index;
}

// Keeps the best `k` of `candidates` (in unspecified order).
template <typename Key>
void KeepBest(std::vector<Candidate<Key>>& candidates, int64_t k) {
  if (static_cast<int64_t>(candidates.size()) <= k) return;
  std::nth_element(candidates.begin(), candidates.begin() + (k - 1),
                   candidates.end(), Better<Key>);
  candidates.resize(k);
}

// Finds the best k elements of one contiguous run of elements.
//
// Elements are converted to keys a block at a time. Once k candidates are
// known, only elements strictly better than the k-th best so far can enter
// (a later element that ties it has a higher index and so ranks below it);
// on random data few do, and the scan reduces to a vectorized compare. The
// candidate buffer is pruned back to k with nth_element when it fills, so
// adversarial orders (ascending input) stay linear.
template <typename Traits>
class RunSelector {
 public:
  using Key = typename Traits::KeyType;
  static constexpr int64_t kBlock = 512;
  static constexpr int64_t kProbe = 16;

  // Appends the best min(k, n) of run[0..n) to `out`, each with index
  // index_base + position. k must be positive.
  void Select(const std::byte* run, int64_t n, int64_t k, Key flip,
              int64_t index_base, std::vector<Candidate<Key>>& out) {
    const int64_t capacity = k + std::max<int64_t>(k, 1024);
    buffer_.clear();
    buffer_.reserve(capacity + kBlock);
    bool have_threshold = false;
    Key threshold = 0;
    auto prune = [&] {
      // capacity > k, so nth_element ran and left the k-th best last.
      KeepBest(buffer_, k);
      threshold = buffer_[k - 1].key;
      have_threshold = true;
    };
    for (int64_t start = 0; start < n; start += kBlock) {
      const int64_t count = std::min(kBlock, n - start);
      const std::byte* src = run + start * Traits::kSize;
      for (int64_t j = 0; j < count; ++j) {
        keys_[j] = Traits::Load(src + j * Traits::kSize) ^ flip;
      }
      const int64_t base = index_base + start;
      if (!have_threshold) {
        for (int64_t j = 0; j < count; ++j) {
          buffer_.push_back({keys_[j], base + j});
        }
        if (static_cast<int64_t>(buffer_.size()) >= capacity) prune();
        continue;
      }
      for (int64_t probe = 0; probe < count; probe += kProbe) {
        const int64_t end = std::min(count, probe + kProbe);
        bool any = false;
        for (int64_t j = probe; j < end; ++j) any |= keys_[j] > threshold;
        if (!any) continue;
        for (int64_t j = probe; j < end; ++j) {
          if (keys_[j] > threshold) buffer_.push_back({keys_[j], base + j});
        }
        if (static_cast<int64_t>(buffer_.size()) >= capacity) prune();
      }
    }
    KeepBest(buffer_, k);
    out.insert(out.end(), buffer_.begin(), buffer_.end());
  }

 private:
  std::vector<Candidate<Key>> buffer_;
  alignas(64) Key keys_[kBlock];
};

// Writes a slice's winners: values copied bit for bit from `run` (the slice,
// contiguous), indices as int64, `stride` elements apart in the outputs.
template <typename Traits>
void WriteSlice(std::vector<Candidate<typename Traits::KeyType>>& winners,
                bool sorted, const std::byte* run, int64_t index_base,
                std::byte* values, int64_t* indices, int64_t stride) {
  using Key = typename Traits::KeyType;
  if (sorted) {
    std::sort(winners.begin(), winners.end(), Better<Key>);
  } else {
    std::sort(winners.begin(), winners.end(), LowerIndex<Key>);
  }
  for (size_t j = 0; j < winners.size(); ++j) {
    const int64_t index = winners[j].index;
    std::memcpy(values + j * stride * Traits::kSize,
                run + (index - index_base) * Traits::kSize, Traits::kSize);
    indices[j * stride] = index;
  }
}

// Below this many elements per task, splitting costs more than it saves.
constexpr int64_t kMinElementsPerTask = 32768;

template <DType D>
void TopKTyped(const Tensor& input, const TopKPlan& plan, bool largest,
               bool sorted, Tensor& values, Tensor& indices) {
  using Traits = KeyTraits<D>;
  using Key = typename Traits::KeyType;
  const DimGeometry& g = plan.input;
  const int64_t k = plan.k;
  const int64_t size = g.size;
  const Key flip = largest ? Key{0} : ~Key{0};
  const std::byte* in = input.data();
  std::byte* out_values = values.mutable_data();
  int64_t* out_indices = reinterpret_cast<int64_t*>(indices.mutable_data());
  const int64_t threads = tbb::this_task_arena::max_concurrency();

  if (g.inner == 1) {
    const int64_t rows = g.outer;
    const int64_t row_bytes = size * Traits::kSize;
    if (rows >= 2 * threads || size < 2 * kMinElementsPerTask) {
      const int64_t grain = std::max<int64_t>(1, kMinElementsPerTask / size);
      tbb::parallel_for(
          tbb::blocked_range<int64_t>(0, rows, grain),
          [&](const tbb::blocked_range<int64_t>& range) {
            RunSelector<Traits> selector;
            std::vector<Candidate<Key>> winners;
            for (int64_t r = range.begin(); r < range.end(); ++r) {
              const std::byte* run = in + r * row_bytes;
              winners.clear();
              selector.Select(run, size, k, flip, 0, winners);
              WriteSlice<Traits>(winners, sorted, run, 0,
                                 out_values + r * k * Traits::kSize,
                                 out_indices + r * k, 1);
            }
          });
      return;
    }
    // Few long rows: each row is split into segments selected in parallel,
    // whose winners are merged. The global best k lie among the segments'
    // best k, since every element's rank only improves within its segment.
    const int64_t segments = std::min<int64_t>(
        size / kMinElementsPerTask, std::max<int64_t>(4 * threads, 1));
    std::vector<std::vector<Candidate<Key>>> partial(segments);
    for (int64_t r = 0; r < rows; ++r) {
      const std::byte* run = in + r * row_bytes;
      tbb::parallel_for(int64_t{0}, segments, [&](int64_t s) {
        const int64_t begin = size * s / segments;
        const int64_t end = size * (s + 1) / segments;
        RunSelector<Traits> selector;
        partial[s].clear();
        selector.Select(run + begin * Traits::kSize, end - begin,
                        std::min(k, end - begin), flip, begin, partial[s]);
      });
      std::vector<Candidate<Key>> winners;
      for (const auto& p : partial) winners.insert(winners.end(), p.begin(), p.end());
      KeepBest(winners, k);
      WriteSlice<Traits>(winners, sorted, run, 0,
                         out_values + r * k * Traits::kSize,
                         out_indices + r * k, 1);
    }
    return;
  }

  // Non-last dim: a tile of `width` neighbouring slices (one cache line of
  // each input row) is transposed into contiguous runs, then selected.
  const int64_t width =
      std::min<int64_t>(g.inner, std::max<int64_t>(1, 128 / Traits::kSize));
  const int64_t tiles_per_outer = (g.inner + width - 1) / width;
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, g.outer * tiles_per_outer, 1),
      [&](const tbb::blocked_range<int64_t>& range) {
        RunSelector<Traits> selector;
        std::vector<Candidate<Key>> winners;
        std::vector<std::byte> transposed(width * size * Traits::kSize);
        for (int64_t t = range.begin(); t < range.end(); ++t) {
          const int64_t o = t / tiles_per_outer;
          const int64_t i0 = (t % tiles_per_outer) * width;
          const int64_t w_count = std::min(width, g.inner - i0);
          const std::byte* slab = in + (o * size * g.inner + i0) * Traits::kSize;
          for (int64_t s = 0; s < size; ++s) {
            const std::byte* line = slab + s * g.inner * Traits::kSize;
            for (int64_t w = 0; w < w_count; ++w) {
              std::memcpy(&transposed[(w * size + s) * Traits::kSize],
                          line + w * Traits::kSize, Traits::kSize);
            }
          }
          for (int64_t w = 0; w < w_count; ++w) {
            const std::byte* run = &transposed[w * size * Traits::kSize];
            winners.clear();
            selector.Select(run, size, k, flip, 0, winners);
            const int64_t first = o * k * g.inner + i0 + w;
            WriteSlice<Traits>(winners, sorted, run, 0,
                               out_values + first * Traits::kSize,
                               out_indices + first, g.inner);
          }
        }
      });
}

}  // namespace

void TopKKernel(const Tensor& input, const TopKPlan& plan, bool largest,
                bool sorted, Tensor& values, Tensor& indices) {
  if (plan.k == 0 || values.num_elements() == 0) return;
  switch (input.dtype()) {
#define TENSOROPS_TOPK_CASE(D)                                   \
  case D:                                                        \
    TopKTyped<D>(input, plan, largest, sorted, values, indices); \
    return;
    TENSOROPS_TOPK_CASE(DType::kFloat32)
    TENSOROPS_TOPK_CASE(DType::kFloat64)
    TENSOROPS_TOPK_CASE(DType::kFloat16)
    TENSOROPS_TOPK_CASE(DType::kBFloat16)
    TENSOROPS_TOPK_CASE(DType::kInt8)
    TENSOROPS_TOPK_CASE(DType::kInt16)
    TENSOROPS_TOPK_CASE(DType::kInt32)
    TENSOROPS_TOPK_CASE(DType::kInt64)
    TENSOROPS_TOPK_CASE(DType::kUInt8)
#undef TENSOROPS_TOPK_CASE
    case DType::kBool:
      return;  // rejected by PlanTopK
  }
}

}  // namespace tensorops::cpu
