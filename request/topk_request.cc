#include "request/topk_request.h"

#include <utility>

#include "core/status_macros.h"
#include "proto/tensor_codec.h"
#include "request/missing_field.h"

namespace tensorops::request {

absl::StatusOr<TopKCallPlan> PlanTopKCall(
    const tensorops::v1::TopKRequest& request, DType dtype, ShapeView shape,
    const RequestLimits& limits) {
  TENSOROPS_RETURN_IF_ERROR(CheckElementLimit(limits, shape, "input"));
  TopKCallPlan call;
  call.options.k = request.k();
  call.options.dim = request.has_dim() ? request.dim() : -1;
  call.options.largest = request.has_largest() ? request.largest() : true;
  call.options.sorted = request.has_sorted() ? request.sorted() : true;
  TENSOROPS_ASSIGN_OR_RETURN(call.plan, PlanTopK(dtype, shape, call.options));
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t count,
                             NumElements(call.plan.output_shape));
  // count <= the input's element count, so neither product overflows.
  call.values_bytes = count * static_cast<int64_t>(DTypeSize(dtype));
  call.indices_bytes = count * int64_t{8};
  TENSOROPS_ASSIGN_OR_RETURN(
      call.response_bytes,
      ResponseBound(limits,
                    ResultWireBytes(call.values_bytes,
                                    request.has_values_shared_memory()) +
                        ResultWireBytes(call.indices_bytes,
                                        request.has_indices_shared_memory()),
                    2 * call.plan.output_shape.size(), 2));
  call.save_for_backward = request.save_for_backward();
  if (call.save_for_backward) {
    TENSOROPS_ASSIGN_OR_RETURN(
        call.wrapped_dim,
        WrapDim(call.options.dim, static_cast<int64_t>(shape.size())));
  }
  return call;
}

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
  TENSOROPS_ASSIGN_OR_RETURN(
      TopKCallPlan call,
      PlanTopKCall(request, input.dtype(), input.shape(), limits));
  return TopKRequestPlan{.input = std::move(input), .call = std::move(call)};
}

}  // namespace tensorops::request
