// Random topk cases and the reference selection that defines tensorops' order,
// for the libtorch oracle tests. Nothing here uses libtorch or core/'s kernels:
// the reference is an independent, deliberately simple restatement of the
// contract in core/backend.h.
#ifndef TENSOROPS_TESTS_CORE_TORCH_ORACLE_SUPPORT_H_
#define TENSOROPS_TESTS_CORE_TORCH_ORACLE_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "core/backend.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace tensorops::testing {

// A value's place in topk's order: any NaN (either sign, any payload) ranks
// above every number, -0.0 equals +0.0, and otherwise numbers compare by
// value. Floating dtypes use `real`, integer dtypes `integer` (int64 values do
// not all fit a double).
struct OrderKey {
  bool is_nan = false;
  double real = 0;
  int64_t integer = 0;
};

// Negative, zero or positive as `a` ranks below, level with or above `b`.
int CompareOrder(const OrderKey& a, const OrderKey& b);

// Keys of every element of `bytes`, read as little-endian `dtype` elements.
// float16 and bfloat16 are decoded here, not by core/ or libtorch.
std::vector<OrderKey> OrderKeysOf(DType dtype,
                                  absl::Span<const std::byte> bytes);

// The row-major geometry of a shape around a dimension: `outer` slices of
// `size` elements, `inner` apart. A 0-d shape is one slice of one element.
struct SliceGeometry {
  int64_t outer = 1;
  int64_t size = 1;
  int64_t inner = 1;

  // Flat position of element `s` of slice (o, i) in a tensor whose extent
  // along the dimension is `extent`.
  int64_t At(int64_t o, int64_t s, int64_t i, int64_t extent) const {
    return (o * extent + s) * inner + i;
  }
};
SliceGeometry GeometryOf(ShapeView shape, int64_t wrapped_dim);

// Wraps `dim` for a tensor of `rank` (0-d accepts 0 and -1); -1 if invalid.
int64_t WrapDimOrMinusOne(int64_t dim, int64_t rank);

// What tensorops promises for a valid topk call, by definition: each slice
// stably sorted by key (descending for largest, ascending otherwise, NaN as the
// top value), so ties keep increasing index order, then truncated to k; for
// sorted=false the selection is returned in increasing index order.
struct ReferenceTopK {
  Shape output_shape;
  // Selected indices along dim, in the output's row-major layout.
  std::vector<int64_t> indices;
  // Per input element: true when no other element of its slice has an
  // equal key, i.e. when every correct topk must agree on its position.
  std::vector<bool> unique_in_slice;
};
ReferenceTopK ReferenceSelect(absl::Span<const OrderKey> keys, ShapeView shape,
                              const TopKOptions& options);

// How a case's values are drawn.
enum class ValueMix {
  kPool,        // a handful of values, repeated: ties everywhere
  kCoarse,      // a few dozen finite values plus some specials
  kWide,        // mostly distinct finite values plus some specials
  kRandomBits,  // uniformly random bit patterns
};

// One topk call with its input.
struct TopKCase {
  int64_t seed_index = 0;
  DType dtype = DType::kFloat32;
  Shape shape;
  TopKOptions options;
  ValueMix mix = ValueMix::kPool;
  int pool_size = 0;  // for kPool
  std::vector<std::byte> input;
  std::vector<std::byte> grad;  // for floating dtypes: gradient of values
};

// Shape, dtype, options, value mix, seed index, and the input bits when the
// tensor is small, so a failure names its case.
std::string Describe(const TopKCase& topk_case);

using Rng = std::mt19937_64;

// Reproducible random draws: each case depends only on (dtype, seed_index).
Rng RngFor(DType dtype, int64_t seed_index, uint64_t salt = 0);
int64_t Uniform(Rng& rng, int64_t lo, int64_t hi);  // inclusive
bool Chance(Rng& rng, int percent);

// Ranks 0-4 (some dimensions 0), at most `max_elements` elements.
Shape RandomShape(Rng& rng, int64_t max_elements);

// `count` elements of `dtype` drawn according to `mix`. Floating specials are
// +-0.0, +-inf, quiet and signaling NaNs of both signs with random payloads,
// denormals and the largest finite values; integer specials are the dtype's
// minimum and maximum.
std::vector<std::byte> RandomValues(Rng& rng, DType dtype, int64_t count,
                                    ValueMix mix, int pool_size);

// A gradient of `count` elements: mostly finite, with +-0.0, +-inf and (when
// `allow_nan`) NaNs mixed in.
std::vector<std::byte> RandomGrad(Rng& rng, DType dtype, int64_t count,
                                  bool allow_nan);

// A random valid topk case (any dim, k from 0 to size, both flags).
TopKCase RandomTopKCase(DType dtype, int64_t seed_index);

// A case with the given geometry and options and values drawn by `mix`.
TopKCase MakeTopKCase(DType dtype, int64_t seed_index, Shape shape,
                      const TopKOptions& options, ValueMix mix, int pool_size);

// "pool", "coarse", "wide" or "random-bits".
const char* ValueMixName(ValueMix mix);

// " input bits: ..." (hex, one word an element) when `bytes` holds at most
// `limit` elements of `dtype`, else "".
std::string InputBitsToString(DType dtype, absl::Span<const std::byte> bytes,
                              int64_t limit = 64);

// What tensorops promises for a valid Backend::Select call, by definition
// (core/backend.h), in the order of OrderKey:
//  - sort: each slice stably sorted by key, ascending or descending, so that
//    equal keys keep increasing index order in both directions;
//  - max: the first index of the largest key (NaN ranks highest);
//  - min: the first NaN's index if the slice has one, else the first index
//    of the smallest key;
//  - median: the first NaN's index if the slice has one, else the index at
//    position (size - 1) / 2 of the stable ascending order;
//  - kthvalue: the lowest index whose key equals that of position k - 1 of
//    the stable ascending order.
// A 0-d input is one slice of one element.
struct ReferenceSelection {
  Shape output_shape;
  // Selected indices along dim, in the output's row-major layout.
  std::vector<int64_t> indices;
  // Per output element: true when another element of its slice has the
  // same key as the one selected there (so an arbitrary tie-break, such as
  // PyTorch's, may pick another index).
  std::vector<bool> tied;
};
ReferenceSelection ReferenceSelectionOf(absl::Span<const OrderKey> keys,
                                        ShapeView shape,
                                        const SelectionOptions& options);

// One Backend::Select call with its input.
struct SelectionCase {
  int64_t seed_index = 0;
  DType dtype = DType::kFloat32;
  Shape shape;
  SelectionOptions options;
  ValueMix mix = ValueMix::kPool;
  int pool_size = 0;  // for kPool
  std::vector<std::byte> input;
  std::vector<std::byte> grad;  // for floating dtypes: gradient of values
};

// Kind, shape, dtype, options, value mix, seed index and (small) input bits.
std::string Describe(const SelectionCase& selection_case);

// The shape of `kind`'s results for an input of `shape` (valid options).
Shape SelectionOutputShape(ShapeView shape, const SelectionOptions& options);

// A random valid call of `kind` (any dim, both keepdim and descending, k
// in [1, size] weighted towards 1, size and the middle). Reductions never
// reduce a dimension of size 0, but other dimensions may be 0.
SelectionCase RandomSelectionCase(SelectionKind kind, DType dtype,
                                  int64_t seed_index);

// A case with the given geometry and options and values drawn by `mix`
// (the gradient as MakeTopKCase's: no NaN for float16).
SelectionCase MakeSelectionCase(DType dtype, int64_t seed_index, Shape shape,
                                const SelectionOptions& options, ValueMix mix,
                                int pool_size);

}  // namespace tensorops::testing

#endif  // TENSOROPS_TESTS_CORE_TORCH_ORACLE_SUPPORT_H_
