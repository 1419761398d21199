#include "request/saved_selection.h"

namespace tensorops::request {

absl::string_view SelectionOpName(SelectionOp op) {
  switch (op) {
    case SelectionOp::kTopK:
      return "TopK";
  }
  return "selection";
}

}  // namespace tensorops::request
