// Argument validation and geometry shared by every backend, so that CPU and
// CUDA accept and reject exactly the same calls.
#ifndef TENSOROPS_CORE_OP_PLANS_H_
#define TENSOROPS_CORE_OP_PLANS_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/backend.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace tensorops {

// A row-major tensor seen as [outer, size, inner] around one dimension: the
// elements of one slice along `dim` are `inner` apart.
struct DimGeometry {
  int64_t dim = 0;  // wrapped, in [0, rank) (0 for 0-d)
  int64_t outer = 1;
  int64_t size = 1;
  int64_t inner = 1;

  int64_t slices() const { return outer * inner; }
};

// Computes the geometry of `shape` around an already wrapped `dim`. For a
// shape with a zero dimension, outer or inner is 0 where that dimension is
// among its factors and saturates at INT64_MAX where the others overflow.
DimGeometry GeometryAround(ShapeView shape, int64_t dim);

struct TopKPlan {
  DimGeometry input;  // geometry of the input around dim
  int64_t k = 0;      // elements kept per slice (1 for a 0-d input)
  Shape output_shape;
};

// Validates a topk call; see Backend::TopK for the rules.
absl::StatusOr<TopKPlan> PlanTopK(DType dtype, ShapeView input_shape,
                                  const TopKOptions& options);

struct SelectionPlan {
  SelectionKind kind = SelectionKind::kMax;
  DimGeometry input;  // geometry of the input around dim
  // Sort: largest first.
  bool descending = false;
  // KthValue and median: the 0-based rank, in a stable ascending order, of
  // the element to return (k - 1 for kthvalue, (size - 1) / 2 for median).
  int64_t rank = 0;
  // Of values and indices: the input's shape for sort; for the reductions
  // the input's with dim of size 1 (keepdim) or removed ([] for a 0-d
  // input either way).
  Shape output_shape;

  // Whether the kind reduces `dim` to one element per slice.
  bool reduces() const { return kind != SelectionKind::kSort; }
};

// Validates a selection call; see Backend::Select for the rules.
absl::StatusOr<SelectionPlan> PlanSelection(DType dtype, ShapeView input_shape,
                                            const SelectionOptions& options);

// Caller's memory a result is written into instead of fresh memory: at
// least the result's byte size (its first bytes are written), kept alive by
// `owner` as long as the result tensor.
struct OutputMemory {
  absl::Span<std::byte> bytes;
  std::shared_ptr<const void> owner;
};

// An uninitialized result of `dtype` and `shape`: a WritableView of `into`
// when given (INVALID_ARGUMENT if it is too small), else allocated
// (RESOURCE_EXHAUSTED if out of memory).
absl::StatusOr<Tensor> AllocateOutput(DType dtype, ShapeView shape,
                                      const OutputMemory* into);

// Where TopK's results go; unset ones are allocated.
struct TopKOutputMemory {
  const OutputMemory* values = nullptr;
  const OutputMemory* indices = nullptr;
};

// For backends: a selection's outputs for `plan`, as AllocateTopKResult.
absl::StatusOr<SelectionResult> AllocateSelectionResult(
    DType dtype, const SelectionPlan& plan, TopKOutputMemory into = {});

// For backends: TopK's outputs for `plan` (of a `dtype` input), allocated (or
// in `into`) and uninitialized. RESOURCE_EXHAUSTED if out of memory.
absl::StatusOr<TopKResult> AllocateTopKResult(DType dtype, const TopKPlan& plan,
                                              TopKOutputMemory into = {});

struct TopKBackwardPlan {
  DimGeometry output;  // geometry of grad_input (input_shape) around dim
  int64_t k = 0;       // grad_values' extent along dim
  Shape output_shape;
};

// Validates a topk backward call's dtypes and shapes; see
// Backend::TopKBackward. Index values are checked by the kernels.
absl::StatusOr<TopKBackwardPlan> PlanTopKBackward(
    DType grad_dtype, ShapeView grad_shape, DType indices_dtype,
    ShapeView indices_shape, ShapeView input_shape, int64_t dim);

// For backends' topk backward kernels: the INVALID_ARGUMENT for the index at
// flat (row-major) `position` of `indices`, which lies outside
// [0, plan.output.size). Every backend reports the first such index in
// memory order with this message.
absl::Status TopKBackwardIndexError(const Tensor& indices, int64_t position,
                                    const TopKBackwardPlan& plan);
// As above, for an index read elsewhere: its `value`.
absl::Status TopKBackwardIndexError(int64_t position, int64_t value,
                                    const TopKBackwardPlan& plan);

// INVALID_ARGUMENT (TopKBackwardIndexError) for the first index of
// `indices` (int64, of plan's shape) outside [0, plan.output.size): the
// check the kernels make, for callers that must make it before producing
// any of the result.
absl::Status CheckTopKBackwardIndices(const Tensor& indices,
                                      const TopKBackwardPlan& plan);

// The little-endian bytes of 1 in `dtype` (1.0 for floats, true for bool),
// in the low DTypeSize(dtype) bytes: what Backend::Ones fills with.
uint64_t OneBits(DType dtype);

}  // namespace tensorops

#endif  // TENSOROPS_CORE_OP_PLANS_H_
