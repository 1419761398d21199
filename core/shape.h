// Tensor shapes and the overflow-checked arithmetic on them.
#ifndef TENSOROPS_CORE_SHAPE_H_
#define TENSOROPS_CORE_SHAPE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dtype.h"

namespace tensorops {

// Dimensions, outermost first. An empty shape is a 0-d (scalar) tensor with
// one element; any zero dimension makes a tensor with no elements.
using Shape = std::vector<int64_t>;
using ShapeView = absl::Span<const int64_t>;

// The most dimensions a tensor may have in a request (PyTorch allows more,
// NumPy 32). Its only purpose is to refuse absurd ranks early.
inline constexpr int kMaxRank = 64;

// Product of the dimensions. INVALID_ARGUMENT if a dimension is negative or
// the product overflows int64.
absl::StatusOr<int64_t> NumElements(ShapeView shape);

// NumElements(shape) * DTypeSize(dtype), with the same errors and overflow
// checking of the multiplication.
absl::StatusOr<int64_t> ByteSize(DType dtype, ShapeView shape);

// Maps `dim` in [-rank, rank) to [0, rank); a 0-d tensor accepts 0 and -1 as
// PyTorch does. INVALID_ARGUMENT naming the valid range otherwise.
absl::StatusOr<int64_t> WrapDim(int64_t dim, int64_t rank);

// "[2, 3]" style rendering for messages. Long shapes show their first
// dimensions only: "[1, 1, 1, 1, 1, 1, 1, 1, ... (rank 100)]".
std::string ShapeToString(ShapeView shape);

}  // namespace tensorops

#endif  // TENSOROPS_CORE_SHAPE_H_
