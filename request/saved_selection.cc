#include "request/saved_selection.h"

namespace tensorops::request {

absl::string_view SelectionOpName(SelectionOp op) {
  switch (op) {
    case SelectionOp::kTopK:
      return "TopK";
    case SelectionOp::kSort:
      return "Sort";
    case SelectionOp::kKthValue:
      return "KthValue";
    case SelectionOp::kMax:
      return "Max";
    case SelectionOp::kMin:
      return "Min";
    case SelectionOp::kMedian:
      return "Median";
  }
  return "selection";
}

}  // namespace tensorops::request
