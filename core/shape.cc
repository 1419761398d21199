#include "core/shape.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tensorops {

absl::StatusOr<int64_t> NumElements(ShapeView shape) {
  int64_t count = 1;
  bool overflow = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape ", ShapeToString(shape), " has negative dimension ", shape[i],
          " at position ", i, "; dimensions must be >= 0"));
    }
    overflow = overflow || __builtin_mul_overflow(count, shape[i], &count);
  }
  // A zero dimension makes the count 0 even if a partial product overflowed.
  for (int64_t d : shape) {
    if (d == 0) return 0;
  }
  if (overflow) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape ", ShapeToString(shape),
                     " has more elements than fit in int64"));
  }
  return count;
}

absl::StatusOr<int64_t> ByteSize(DType dtype, ShapeView shape) {
  absl::StatusOr<int64_t> count = NumElements(shape);
  if (!count.ok()) return count.status();
  int64_t bytes = 0;
  if (__builtin_mul_overflow(*count, static_cast<int64_t>(DTypeSize(dtype)),
                             &bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape ", ShapeToString(shape), " of ", DTypeName(dtype),
                     " needs more bytes than fit in int64"));
  }
  return bytes;
}

absl::StatusOr<int64_t> WrapDim(int64_t dim, int64_t rank) {
  const int64_t extent = rank == 0 ? 1 : rank;
  if (dim < -extent || dim >= extent) {
    return absl::InvalidArgumentError(
        absl::StrCat("dim ", dim, " is out of range for a tensor of rank ",
                     rank, " (expected to be in range of [", -extent, ", ",
                     extent - 1, "], but got ", dim, ")"));
  }
  return dim < 0 ? dim + extent : dim;
}

std::string ShapeToString(ShapeView shape) {
  // Enough to recognize a shape; a message stays short whatever the rank.
  constexpr size_t kShownDims = 8;
  if (shape.size() <= kShownDims) {
    return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
  }
  return absl::StrCat("[", absl::StrJoin(shape.first(kShownDims), ", "),
                      ", ... (rank ", shape.size(), ")]");
}

}  // namespace tensorops
