// What a selection op saves for Backward in a session: the indices it
// selected and the geometry to scatter a gradient back into.
//
// Every selection op's backward is the same scatter into zeros of the
// input's shape (PyTorch's value_selecting_reduction_backward); the ops
// differ only in whether the selected dimension is kept (TopK and Sort
// keep it; the reductions with keepdim=false drop it, and Backward puts it
// back with size 1 before the scatter).
// `op` says which operation saved the state, for messages.
#ifndef TENSOROPS_REQUEST_SAVED_SELECTION_H_
#define TENSOROPS_REQUEST_SAVED_SELECTION_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace tensorops::request {

// The operations whose result can be saved for Backward.
enum class SelectionOp : uint8_t {
  kTopK,
  kSort,
  kKthValue,
  kMax,
  kMin,
  kMedian,
};

// The RPC's name ("TopK", "Sort", "KthValue", "Max", "Min", "Median").
absl::string_view SelectionOpName(SelectionOp op);

struct SavedSelection {
  Tensor indices;     // the op's int64 indices (the core's result, not a copy)
  Shape input_shape;  // the op's input shape
  int64_t dim = 0;    // wrapped into [0, rank) (0 for a 0-d input)
  SelectionOp op = SelectionOp::kTopK;
  // Whether the indices (and so the gradient Backward takes) have `dim`.
  bool keeps_dim = true;
};

}  // namespace tensorops::request

#endif  // TENSOROPS_REQUEST_SAVED_SELECTION_H_
