// The compute interface shared by the CPU and CUDA backends.
#ifndef TENSOROPS_CORE_BACKEND_H_
#define TENSOROPS_CORE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/chunked_tensor.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace tensorops {

struct TopKOptions {
  int64_t k = 1;
  // Negative values count from the end, as in PyTorch.
  int64_t dim = -1;
  // Select the largest values (true) or the smallest (false).
  bool largest = true;
  // Return the selection best-first (true) or in increasing index order.
  bool sorted = true;
};

struct TopKResult {
  Tensor values;   // input's dtype, input's shape with k along dim
  Tensor indices;  // int64, same shape as values
};

// The selection family beside topk: each selects, for every slice along
// `dim`, elements of the input with their positions, as PyTorch 1.13's
// torch.sort, torch.kthvalue, torch.max(dim), torch.min(dim) and
// torch.median(dim).
enum class SelectionKind : uint8_t { kSort, kKthValue, kMax, kMin, kMedian };

// "sort", "kthvalue", "max", "min" or "median", as PyTorch names them.
absl::string_view SelectionKindName(SelectionKind kind);

struct SelectionOptions {
  SelectionKind kind = SelectionKind::kMax;
  // Negative values count from the end, as in PyTorch.
  int64_t dim = -1;
  // Reductions (all but sort): keep `dim` with size 1 in the results (true)
  // or drop it (false, PyTorch's default).
  bool keepdim = false;
  // Sort: largest first (true) or smallest first (false).
  bool descending = false;
  // Sort: keep index order among equal values. tensorops always does (its
  // sort is stable either way), so this only documents the caller's wish.
  bool stable = false;
  // KthValue: the k-th smallest, 1-based, in [1, size(dim)].
  int64_t k = 1;
};

// Values (the input's dtype) and indices (int64) of a selection, of the
// same shape: the input's for sort; for a reduction the input's with `dim`
// of size 1 (keepdim) or removed.
using SelectionResult = TopKResult;

// Validated calls and output memory (core/op_plans.h).
struct TopKPlan;
struct SelectionPlan;
struct TopKBackwardPlan;
struct OutputMemory;
struct TopKOutputMemory;

// Semantics follow PyTorch 1.13 (torch.zeros_like, torch.ones_like,
// torch.topk and its autograd backward), with one addition: PyTorch leaves
// the order of equal values unspecified, and tensorops defines it.
//
// Ordering used by TopK: NaN ranks above +inf (first when largest, last
// otherwise); -0.0 and +0.0 are equal; among equal values the lower index
// comes first, both for largest and smallest. Returned values are the input
// elements themselves, bit for bit (sign of zero and NaN payloads kept).
//
// Every method is thread-safe and reports bad arguments as INVALID_ARGUMENT
// with a message naming what was expected; nothing throws.
//
// The public calls are the same for every backend: they validate the
// arguments (core/op_plans.h) and allocate the outputs, then run the
// backend's kernel into them through the protected Run* methods, which is
// all a backend implements.
class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu" or "cuda".
  virtual std::string_view name() const = 0;

  // Selection ops this backend has no kernels for (its RunSelect answers
  // UNIMPLEMENTED, as the CUDA backend's does) run on `fallback` instead,
  // on the same host tensors: --backend=auto serves them on the CPU. Call
  // before the backend is shared between threads.
  void SetSelectionFallback(std::unique_ptr<Backend> fallback);

  // Each call allocates its results, or writes them into the caller's
  // memory given as `into` (core/op_plans.h: OutputMemory).

  // A tensor of `shape` and `dtype` filled with 0 (false) or 1 (true).
  absl::StatusOr<Tensor> Zeros(DType dtype, ShapeView shape,
                               const OutputMemory* into = nullptr);
  absl::StatusOr<Tensor> Ones(DType dtype, ShapeView shape,
                              const OutputMemory* into = nullptr);

  // torch.topk(input, k, dim, largest, sorted). `dim` must lie in
  // [-rank, rank) and k in [0, size(dim)]; a 0-d input accepts dim 0 or -1
  // and k 0 or 1 and returns itself with index 0. bool input is rejected.
  // With sorted=false the same elements are returned in increasing index
  // order.
  absl::StatusOr<TopKResult> TopK(const Tensor& input,
                                  const TopKOptions& options);

  // TopK of an input whose bytes lie in chunks (e.g. as a request arrived),
  // with the same results. A backend may read the chunks in place
  // (RunTopKOfChunks).
  absl::StatusOr<TopKResult> TopKOfChunks(const ChunkedTensor& input,
                                          const TopKOptions& options);
  absl::StatusOr<TopKResult> TopKOfChunks(const ChunkedTensor& input,
                                          const TopKOptions& options,
                                          const TopKOutputMemory& into);

  // torch.sort(input, dim, descending, stable), torch.kthvalue(input, k,
  // dim, keepdim), torch.max/min(input, dim, keepdim) and
  // torch.median(input, dim, keepdim), by options.kind. The rules, beyond
  // PyTorch's (core/op_plans.h: PlanSelection checks the arguments):
  //  - Order (sort, kthvalue, median): NaN of either sign ranks above +inf
  //    and NaNs are equal to each other; -0.0 equals +0.0.
  //  - Ties: among equal values the lower index comes first (sort, both
  //    directions, stable or not) or is returned (kthvalue: the lowest index
  //    holding the k-th smallest value). PyTorch leaves both unspecified.
  //  - max/min: the first index of the extreme value, or of the first NaN
  //    (NaN propagates); median: the first NaN if the slice has one, else
  //    the element at position (n-1)/2 of a stable ascending sort. These
  //    are PyTorch's choices.
  //  - Every value is the input's element at its index, bit for bit (sign
  //    of zero, NaN payload), also where PyTorch quiets a signalling NaN (a
  //    0-d max/min).
  //  - A 0-d input accepts dim 0 or -1 (kthvalue: k = 1) and returns itself
  //    with index 0. Reductions over a dimension of size 0 are refused, as
  //    in PyTorch; sort returns empty results. bool input is refused by
  //    kthvalue and median (as in PyTorch), taken by sort, max and min.
  //    float16 and bfloat16 are taken by all five.
  absl::StatusOr<SelectionResult> Select(const Tensor& input,
                                         const SelectionOptions& options);
  // Select of an input whose bytes lie in chunks, into `into` where given.
  absl::StatusOr<SelectionResult> SelectOfChunks(
      const ChunkedTensor& input, const SelectionOptions& options,
      const TopKOutputMemory& into);

  // The gradient of topk's values with respect to its input:
  // zeros(input_shape, grad_values.dtype).scatter(dim, indices, grad_values).
  // grad_values must be floating point, indices int64 of the same shape,
  // that shape equal to input_shape except along dim (where it may be
  // shorter), and every index in [0, input_shape[dim]). If an index repeats
  // within a slice, the last one in memory order wins.
  absl::StatusOr<Tensor> TopKBackward(const Tensor& grad_values,
                                      const Tensor& indices,
                                      ShapeView input_shape, int64_t dim,
                                      const OutputMemory* into = nullptr);
  // TopKBackward of tensors whose bytes lie in chunks (received in place, or
  // shared memory: read once).
  absl::StatusOr<Tensor> TopKBackwardOfChunks(
      const ChunkedTensor& grad_values, const ChunkedTensor& indices,
      ShapeView input_shape, int64_t dim, const OutputMemory* into = nullptr);

 protected:
  // The kernels, called (from any thread, concurrently) with validated
  // arguments and allocated (owning, uninitialized) outputs, which they fill
  // completely on success. An error (e.g. CANCELLED, or a device failure)
  // is returned to the caller as is; the outputs are then discarded.

  // Fills `output` (any dtype and shape, possibly without elements) with
  // copies of the element whose little-endian bytes are the low
  // DTypeSize(output.dtype()) bytes of `element_bits`.
  virtual absl::Status RunFill(uint64_t element_bits, Tensor& output) = 0;

  // Fills `result` (of plan.output_shape, possibly without elements) with
  // the topk of `input` as planned by PlanTopK(input's dtype and shape,
  // options).
  virtual absl::Status RunTopK(const Tensor& input, const TopKPlan& plan,
                               const TopKOptions& options,
                               TopKResult& result) = 0;

  // RunTopK for a chunked input. This default reads a contiguous copy
  // (ChunkedTensor::Materialize) with RunTopK.
  virtual absl::Status RunTopKOfChunks(const ChunkedTensor& input,
                                       const TopKPlan& plan,
                                       const TopKOptions& options,
                                       TopKResult& result);

  // Fills `result` (of plan.output_shape, possibly without elements) with
  // the selection planned by PlanSelection(input's dtype and shape,
  // options). This default answers UNIMPLEMENTED naming the operation and
  // the backend, for backends without these kernels.
  virtual absl::Status RunSelect(const Tensor& input, const SelectionPlan& plan,
                                 SelectionResult& result);

  // Fills `grad_input` (of plan.output_shape, grad_values' dtype) with the
  // scatter of `grad_values` at `indices`, as planned by PlanTopKBackward.
  // Index values are not checked yet: if any lies outside
  // [0, plan.output.size), return TopKBackwardIndexError (core/op_plans.h)
  // for the first such index in memory order.
  virtual absl::Status RunTopKBackward(const Tensor& grad_values,
                                       const Tensor& indices,
                                       const TopKBackwardPlan& plan,
                                       Tensor& grad_input) = 0;

  // RunTopKBackward for chunked tensors. This default reads contiguous
  // copies (ChunkedTensor::Materialize) with RunTopKBackward.
  virtual absl::Status RunTopKBackwardOfChunks(const ChunkedTensor& grad_values,
                                               const ChunkedTensor& indices,
                                               const TopKBackwardPlan& plan,
                                               Tensor& grad_input);

 private:
  // RunSelect, else the fallback's where this backend lacks the kernel.
  absl::Status RunSelectOrFallback(const Tensor& input,
                                   const SelectionPlan& plan,
                                   SelectionResult& result);

  std::unique_ptr<Backend> selection_fallback_;
};

// torch.zeros_like / torch.ones_like: `like`'s shape, `dtype` or like's dtype.
absl::StatusOr<Tensor> ZerosLike(Backend& backend, const Tensor& like,
                                 std::optional<DType> dtype = std::nullopt);
absl::StatusOr<Tensor> OnesLike(Backend& backend, const Tensor& like,
                                std::optional<DType> dtype = std::nullopt);

}  // namespace tensorops

#endif  // TENSOROPS_CORE_BACKEND_H_
