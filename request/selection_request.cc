#include "request/selection_request.h"

#include <utility>

#include "core/status_macros.h"
#include "proto/tensor_codec.h"
#include "request/missing_field.h"

namespace tensorops::request {
namespace {

namespace v1 = ::tensorops::v1;

// The fields every selection request has, by the same names.
template <typename Request>
SelectionFields CommonFields(const Request& request, SelectionOp op,
                             SelectionKind kind) {
  SelectionFields fields;
  fields.op = op;
  fields.options.kind = kind;
  fields.options.dim = request.has_dim() ? request.dim() : -1;
  fields.save_for_backward = request.save_for_backward();
  fields.input = request.has_input() ? &request.input() : nullptr;
  if (request.has_values_shared_memory()) {
    fields.values_shared_memory = &request.values_shared_memory();
  }
  if (request.has_indices_shared_memory()) {
    fields.indices_shared_memory = &request.indices_shared_memory();
  }
  return fields;
}

}  // namespace

SelectionFields FieldsOf(const v1::SortRequest& request) {
  SelectionFields fields =
      CommonFields(request, SelectionOp::kSort, SelectionKind::kSort);
  fields.options.descending = request.descending();
  fields.options.stable = request.stable();
  return fields;
}

SelectionFields FieldsOf(const v1::KthValueRequest& request) {
  SelectionFields fields =
      CommonFields(request, SelectionOp::kKthValue, SelectionKind::kKthValue);
  fields.options.k = request.k();
  fields.options.keepdim = request.keepdim();
  return fields;
}

SelectionFields FieldsOf(const v1::MaxRequest& request) {
  SelectionFields fields =
      CommonFields(request, SelectionOp::kMax, SelectionKind::kMax);
  fields.options.keepdim = request.keepdim();
  return fields;
}

SelectionFields FieldsOf(const v1::MinRequest& request) {
  SelectionFields fields =
      CommonFields(request, SelectionOp::kMin, SelectionKind::kMin);
  fields.options.keepdim = request.keepdim();
  return fields;
}

SelectionFields FieldsOf(const v1::MedianRequest& request) {
  SelectionFields fields =
      CommonFields(request, SelectionOp::kMedian, SelectionKind::kMedian);
  fields.options.keepdim = request.keepdim();
  return fields;
}

absl::StatusOr<SelectionRequestPlan> PlanSelectionRequest(
    const SelectionFields& fields,
    const std::optional<ChunkedBytes>& input_bytes,
    const RequestLimits& limits) {
  if (fields.input == nullptr) {
    return MissingField("input", "the tensor to select from");
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      ChunkedTensor input,
      wire::ChunkedViewFromProto(*fields.input, input_bytes, "input"));
  TENSOROPS_RETURN_IF_ERROR(CheckElementLimit(limits, input.shape(), "input"));
  TENSOROPS_ASSIGN_OR_RETURN(
      SelectionPlan plan,
      PlanSelection(input.dtype(), input.shape(), fields.options));
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t count,
                             NumElements(plan.output_shape));
  const int64_t output_rank = static_cast<int64_t>(plan.output_shape.size());
  SelectionRequestPlan out{
      .input = std::move(input), .fields = fields, .plan = std::move(plan)};
  // count <= the input's element count, so neither product overflows.
  out.values_bytes = count * static_cast<int64_t>(DTypeSize(out.input.dtype()));
  out.indices_bytes = count * int64_t{8};
  TENSOROPS_ASSIGN_OR_RETURN(
      out.response_bytes,
      ResponseBound(
          limits,
          ResultWireBytes(out.values_bytes,
                          fields.values_shared_memory != nullptr) +
              ResultWireBytes(out.indices_bytes,
                              fields.indices_shared_memory != nullptr),
          2 * output_rank, 2));
  out.wrapped_dim = out.plan.input.dim;
  // A 0-d input's results are 0-d either way: nothing to unsqueeze.
  out.keeps_dim = !out.plan.reduces() || fields.options.keepdim ||
                  out.input.shape().empty();
  return out;
}

}  // namespace tensorops::request
