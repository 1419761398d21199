// ZerosLike and OnesLike requests, validated into what to fill.
#ifndef TENSOROPS_REQUEST_FILL_REQUEST_H_
#define TENSOROPS_REQUEST_FILL_REQUEST_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "core/chunked_tensor.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "request/limits.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::request {

struct FillPlan {
  DType dtype;  // of the result: the request's dtype, else the input's
  Shape shape;  // the input's
  bool ones = false;
  int64_t output_bytes = 0;    // of the result's data
  int64_t response_bytes = 0;  // the most the response can take
};

// torch.zeros_like / torch.ones_like of `request.input()` (dtype and shape;
// its data is optional and unused). `lifted_data` is the input's data when
// it was lifted out of the message. INVALID_ARGUMENT for a missing or
// malformed input or dtype, RESOURCE_EXHAUSTED past `limits`.
absl::StatusOr<FillPlan> PlanZerosLike(
    const tensorops::v1::ZerosLikeRequest& request,
    const std::optional<ChunkedBytes>& lifted_data,
    const RequestLimits& limits);
absl::StatusOr<FillPlan> PlanOnesLike(
    const tensorops::v1::OnesLikeRequest& request,
    const std::optional<ChunkedBytes>& lifted_data,
    const RequestLimits& limits);

}  // namespace tensorops::request

#endif  // TENSOROPS_REQUEST_FILL_REQUEST_H_
