// TopK requests, validated into a plan for the backend.
#ifndef TENSOROPS_REQUEST_TOPK_REQUEST_H_
#define TENSOROPS_REQUEST_TOPK_REQUEST_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "core/backend.h"
#include "core/chunked_tensor.h"
#include "core/op_plans.h"
#include "request/limits.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::request {

// What a TopK request asks for, apart from its input's bytes.
struct TopKCallPlan {
  TopKOptions options;  // the request's, with the proto's defaults applied
  TopKPlan plan;
  int64_t values_bytes = 0;
  int64_t indices_bytes = 0;
  int64_t response_bytes = 0;  // the most the response can take
  // save_for_backward: the result is to be saved in a session (whose size
  // the caller checks against its cache before running), with the dim
  // wrapped into [0, rank) (0 for a 0-d input).
  bool save_for_backward = false;
  int64_t wrapped_dim = 0;
};

// The call of `request` on an input of `dtype` and `shape`: its options
// (the proto's defaults applied) and results. INVALID_ARGUMENT for bad
// k/dim, RESOURCE_EXHAUSTED past `limits`.
absl::StatusOr<TopKCallPlan> PlanTopKCall(
    const tensorops::v1::TopKRequest& request, DType dtype, ShapeView shape,
    const RequestLimits& limits);

struct TopKRequestPlan {
  // Reads the request's bytes in place: valid while the request (and its
  // lifted chunks) are.
  ChunkedTensor input;
  TopKCallPlan call;
  // Bytes the computation touches: input, values and indices.
  int64_t work_bytes() const {
    return static_cast<int64_t>(input.byte_size()) + call.values_bytes +
           call.indices_bytes;
  }
};

// torch.topk(input, k, dim, largest, sorted) of `request`; `lifted_data` is
// input.data when it was lifted out of the message. INVALID_ARGUMENT for a
// missing or malformed input or bad k/dim, RESOURCE_EXHAUSTED past `limits`.
absl::StatusOr<TopKRequestPlan> PlanTopKRequest(
    const tensorops::v1::TopKRequest& request,
    const std::optional<ChunkedBytes>& lifted_data,
    const RequestLimits& limits);

}  // namespace tensorops::request

#endif  // TENSOROPS_REQUEST_TOPK_REQUEST_H_
