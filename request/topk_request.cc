#include "request/topk_request.h"

#include <utility>

#include "core/status_macros.h"
#include "proto/tensor_codec.h"
#include "request/missing_field.h"

namespace tensorops::request {

absl::StatusOr<TopKRequestPlan> PlanTopKRequest(
    const tensorops::v1::TopKRequest& request,
    const std::optional<ChunkedBytes>& lifted_data,
    const RequestLimits& limits) {
  if (!request.has_input()) {
    return MissingField("input", "the tensor to select from");
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      ChunkedTensor input,
      wire::ChunkedViewFromProto(request.input(), lifted_data, "input"));
  TENSOROPS_RETURN_IF_ERROR(CheckElementLimit(limits, input.shape(), "input"));
  TopKOptions options;
  options.k = request.k();
  options.dim = request.has_dim() ? request.dim() : -1;
  options.largest = request.has_largest() ? request.largest() : true;
  options.sorted = request.has_sorted() ? request.sorted() : true;
  TENSOROPS_ASSIGN_OR_RETURN(TopKPlan plan,
                             PlanTopK(input.dtype(), input.shape(), options));
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t count,
                             NumElements(plan.output_shape));
  // count <= the input's element count, so neither product overflows.
  const int64_t values_bytes =
      count * static_cast<int64_t>(DTypeSize(input.dtype()));
  const int64_t indices_bytes = count * int64_t{8};
  TENSOROPS_ASSIGN_OR_RETURN(
      const int64_t response_bytes,
      ResponseBound(
          limits,
          ResultWireBytes(values_bytes, request.has_values_shared_memory()) +
              ResultWireBytes(indices_bytes,
                              request.has_indices_shared_memory()),
          2 * plan.output_shape.size(), 2));
  int64_t wrapped_dim = 0;
  if (request.save_for_backward()) {
    TENSOROPS_ASSIGN_OR_RETURN(wrapped_dim, WrapDim(options.dim, input.rank()));
  }
  return TopKRequestPlan{.input = std::move(input),
                         .options = options,
                         .plan = std::move(plan),
                         .values_bytes = values_bytes,
                         .indices_bytes = indices_bytes,
                         .response_bytes = response_bytes,
                         .save_for_backward = request.save_for_backward(),
                         .wrapped_dim = wrapped_dim};
}

}  // namespace tensorops::request
