// Requests of the selection family (Sort, KthValue, Max, Min, Median),
// validated into a plan for Backend::SelectOfChunks. One planner serves all
// five: each request message is first read into SelectionFields, the only
// place that knows the messages' field names.
#ifndef TENSOROPS_REQUEST_SELECTION_REQUEST_H_
#define TENSOROPS_REQUEST_SELECTION_REQUEST_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "core/backend.h"
#include "core/chunked_tensor.h"
#include "core/op_plans.h"
#include "request/limits.h"
#include "request/saved_selection.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::request {

// What any selection request says, with the proto's defaults applied; its
// pointers point into the request, which must outlive it.
struct SelectionFields {
  SelectionOp op = SelectionOp::kSort;
  SelectionOptions options;
  bool save_for_backward = false;
  const tensorops::v1::Tensor* input = nullptr;  // null when unset
  // Null unless the request names a region for that result.
  const tensorops::v1::SharedMemoryRef* values_shared_memory = nullptr;
  const tensorops::v1::SharedMemoryRef* indices_shared_memory = nullptr;
};

SelectionFields FieldsOf(const tensorops::v1::SortRequest& request);
SelectionFields FieldsOf(const tensorops::v1::KthValueRequest& request);
SelectionFields FieldsOf(const tensorops::v1::MaxRequest& request);
SelectionFields FieldsOf(const tensorops::v1::MinRequest& request);
SelectionFields FieldsOf(const tensorops::v1::MedianRequest& request);

struct SelectionRequestPlan {
  // Reads the request's bytes in place: valid while the request (and its
  // lifted chunks) are.
  ChunkedTensor input;
  SelectionFields fields;
  SelectionPlan plan;
  int64_t values_bytes = 0;
  int64_t indices_bytes = 0;
  int64_t response_bytes = 0;  // the most the response can take
  // What a session saves besides the indices (when save_for_backward): the
  // dim wrapped into [0, rank) (0 for a 0-d input), and whether the results
  // keep it.
  int64_t wrapped_dim = 0;
  bool keeps_dim = true;
  // Bytes the computation touches: input, values and indices.
  int64_t work_bytes() const {
    return static_cast<int64_t>(input.byte_size()) + values_bytes +
           indices_bytes;
  }
};

// The selection `fields` ask for (from FieldsOf); `input_bytes` is
// input.data when it was lifted out of the message or lies in shared
// memory. INVALID_ARGUMENT for a missing or malformed input or bad
// k/dim/dtype, RESOURCE_EXHAUSTED past `limits`.
absl::StatusOr<SelectionRequestPlan> PlanSelectionRequest(
    const SelectionFields& fields,
    const std::optional<ChunkedBytes>& input_bytes,
    const RequestLimits& limits);

}  // namespace tensorops::request

#endif  // TENSOROPS_REQUEST_SELECTION_REQUEST_H_
