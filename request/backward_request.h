// Backward requests, validated in two steps around the session lookup, so
// that a bad request is refused before any session is touched and the
// lookup (the service's side effect) sits between pure checks.
#ifndef TENSOROPS_REQUEST_BACKWARD_REQUEST_H_
#define TENSOROPS_REQUEST_BACKWARD_REQUEST_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "core/chunked_tensor.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "request/limits.h"
#include "request/saved_selection.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::request {

// A Backward request's tensors, decoded and checked on their own.
struct BackwardInputs {
  // grad_values, read in place: in the request, in its lifted bytes or in
  // shared memory (marked shared, so that kernels read it once).
  ChunkedTensor grad;
  // grad_input goes to shared memory (grad_input_shared_memory is set).
  bool grad_input_to_region = false;
  // True when the request names a session (whose state the caller looks up
  // and passes to PlanBackwardRequest); the fields below are then unset.
  bool uses_session = false;
  // The stateless form's scatter: indices (read in place, as grad),
  // input_shape, dim.
  ChunkedTensor indices;
  Shape input_shape;
  int64_t dim = -1;
  // Whether grad and indices have dim (false: a reduction's with
  // keepdim=false, put back with size 1 before the scatter).
  bool keeps_dim = true;
};

// The bytes of Backward's tensors that are not in their data: lifted out of
// a large request (proto/lifted_field.h) or in shared memory, resolved by
// the service (server/region_holds.h).
struct BackwardTensorBytes {
  std::optional<ChunkedBytes> grad_values;
  std::optional<ChunkedBytes> indices;
};

// Step 1: grad_values, and either a session id alone or the stateless
// form's indices, input_shape, dim and keepdim. INVALID_ARGUMENT for missing,
// malformed or contradictory fields, RESOURCE_EXHAUSTED past `limits`.
// The tensors read `request`'s or `elsewhere`'s bytes in place; those must
// outlive them.
absl::StatusOr<BackwardInputs> DecodeBackwardRequest(
    const tensorops::v1::BackwardRequest& request, const RequestLimits& limits,
    const BackwardTensorBytes& elsewhere = {});

struct BackwardRequestPlan {
  // Both with dim (of size 1 where the selection dropped it): views of the
  // request's or the session's tensors.
  ChunkedTensor grad;
  ChunkedTensor indices;
  Shape input_shape;
  int64_t dim = 0;
  int64_t output_bytes = 0;    // of grad_input's data
  int64_t response_bytes = 0;  // the most the response can take
  // Bytes the computation touches: gradient, indices and grad_input.
  int64_t work_bytes() const {
    return static_cast<int64_t>(grad.byte_size()) +
           static_cast<int64_t>(indices.byte_size()) + output_bytes;
  }
};

// Step 2: the scatter of `inputs.grad` into zeros of the input's shape,
// with `saved` (the named session's state; must be set exactly when
// inputs.uses_session) or the stateless fields. INVALID_ARGUMENT when the
// gradient does not fit the indices, RESOURCE_EXHAUSTED past `limits`.
absl::StatusOr<BackwardRequestPlan> PlanBackwardRequest(
    BackwardInputs inputs, const SavedSelection* saved,
    const RequestLimits& limits);

}  // namespace tensorops::request

#endif  // TENSOROPS_REQUEST_BACKWARD_REQUEST_H_
