// PlanSelection (core/op_plans.h) and SelectionKindName (core/backend.h).
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/backend.h"
#include "core/op_plans.h"
#include "core/status_macros.h"

namespace tensorops {

absl::string_view SelectionKindName(SelectionKind kind) {
  switch (kind) {
    case SelectionKind::kSort:
      return "sort";
    case SelectionKind::kKthValue:
      return "kthvalue";
    case SelectionKind::kMax:
      return "max";
    case SelectionKind::kMin:
      return "min";
    case SelectionKind::kMedian:
      return "median";
  }
  return "selection";
}

absl::StatusOr<SelectionPlan> PlanSelection(DType dtype, ShapeView input_shape,
                                            const SelectionOptions& options) {
  const absl::string_view name = SelectionKindName(options.kind);
  // PyTorch 1.13 has no CPU kernel of these for bool.
  if (dtype == DType::kBool && (options.kind == SelectionKind::kKthValue ||
                                options.kind == SelectionKind::kMedian)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name,
        " is not implemented for bool tensors (as in PyTorch); expected a "
        "floating-point or integer dtype"));
  }
  TENSOROPS_RETURN_IF_ERROR(ByteSize(dtype, input_shape).status());
  const int64_t rank = static_cast<int64_t>(input_shape.size());
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t dim, WrapDim(options.dim, rank));
  SelectionPlan plan;
  plan.kind = options.kind;
  plan.input = GeometryAround(input_shape, dim);
  plan.descending = options.kind == SelectionKind::kSort && options.descending;
  plan.output_shape.assign(input_shape.begin(), input_shape.end());
  if (!plan.reduces()) return plan;
  if (rank > 0 && plan.input.size == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " reduces dimension ", dim, ", which has size 0 (input shape ",
        ShapeToString(input_shape),
        "), so there is no value to return (PyTorch: \"Expected reduction dim ",
        dim, " to have non-zero size\"); expected a dimension of size >= 1"));
  }
  switch (options.kind) {
    case SelectionKind::kKthValue:
      if (options.k < 1 || options.k > plan.input.size) {
        return absl::InvalidArgumentError(
            absl::StrCat("k = ", options.k, " is out of range for dimension ",
                         dim, " of size ", plan.input.size, " (input shape ",
                         ShapeToString(input_shape),
                         "); expected 1 <= k <= ", plan.input.size));
      }
      plan.rank = options.k - 1;
      break;
    case SelectionKind::kMedian:
      plan.rank = (plan.input.size - 1) / 2;
      break;
    default:
      break;
  }
  if (rank > 0) {
    if (options.keepdim) {
      plan.output_shape[dim] = 1;
    } else {
      plan.output_shape.erase(plan.output_shape.begin() + dim);
    }
  }
  return plan;
}

}  // namespace tensorops
