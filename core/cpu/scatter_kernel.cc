#include "core/cpu/scatter_kernel.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/cpu/fill_kernel.h"

namespace tensorops::cpu {
namespace {

constexpr int64_t kElementsPerTask = 16384;

template <size_t kSize>
int64_t ScatterTyped(const Tensor& grad_values, const Tensor& indices,
                     const TopKBackwardPlan& plan, std::byte* out) {
  const DimGeometry& g = plan.output;
  const int64_t k = plan.k;
  const std::byte* grad = grad_values.data();
  const int64_t slices = g.slices();
  // Lowest flat position of a bad index, or -1.
  std::atomic<int64_t> first_bad{-1};
  auto note_bad = [&](int64_t position) {
    int64_t seen = first_bad.load();
    while ((seen == -1 || position < seen) &&
           !first_bad.compare_exchange_weak(seen, position)) {
    }
  };
  const int64_t grain =
      std::max<int64_t>(1, kElementsPerTask / std::max<int64_t>(k, 1));
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, slices, grain),
      [&](const tbb::blocked_range<int64_t>& range) {
        for (int64_t slice = range.begin(); slice < range.end(); ++slice) {
          const int64_t o = slice / g.inner;
          const int64_t i = slice % g.inner;
          const int64_t in_base = o * k * g.inner + i;
          const int64_t out_base = o * g.size * g.inner + i;
          for (int64_t j = 0; j < k; ++j) {
            const int64_t position = in_base + j * g.inner;
            const int64_t index = indices.Load<int64_t>(position);
            if (index < 0 || index >= g.size) {
              note_bad(position);
              continue;
            }
            std::memcpy(out + (out_base + index * g.inner) * kSize,
                        grad + position * kSize, kSize);
          }
        }
      });
  return first_bad.load();
}

}  // namespace

absl::Status ScatterKernel(const Tensor& grad_values, const Tensor& indices,
                           const TopKBackwardPlan& plan, Tensor& grad_input) {
  const std::byte zero[8] = {};
  const size_t element_size = DTypeSize(grad_input.dtype());
  std::byte* out = grad_input.mutable_data();
  FillKernel(out, grad_input.num_elements(), element_size, zero);
  if (grad_values.num_elements() == 0) return absl::OkStatus();
  int64_t bad = -1;
  switch (element_size) {
    case 2:
      bad = ScatterTyped<2>(grad_values, indices, plan, out);
      break;
    case 4:
      bad = ScatterTyped<4>(grad_values, indices, plan, out);
      break;
    default:
      bad = ScatterTyped<8>(grad_values, indices, plan, out);
      break;
  }
  if (bad < 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "indices element ", bad, " (flat, row-major) is ",
      indices.Load<int64_t>(bad), ", out of range for dimension ",
      plan.output.dim, " of input_shape ", ShapeToString(plan.output_shape),
      "; expected 0 <= index < ", plan.output.size));
}

}  // namespace tensorops::cpu
