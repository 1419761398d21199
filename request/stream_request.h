// Streamed calls (TopKStream and the like; see the proto's comment above
// TopKStreamRequest): the request in a stream's first message, validated
// before any chunk is accepted, and the rules for the messages after it.
//
// A streamed request is the unary call's request whose tensors carry dtype
// and shape only; their bytes follow in chunks. It is planned with
// StreamedLimits (request/limits.h): the streamed element limit, no message
// limit. What a streamed call must hold whole is checked against
// --max_stream_buffer_bytes here, from the request alone.
#ifndef TENSOROPS_REQUEST_STREAM_REQUEST_H_
#define TENSOROPS_REQUEST_STREAM_REQUEST_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "proto/tensor_codec.h"
#include "request/backward_request.h"
#include "request/fill_request.h"
#include "request/limits.h"
#include "request/topk_request.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::request {

// What a message of a stream carries.
enum class StreamPart { kRequest, kChunk };

// The part a client's message is: `has_request` and `has_chunk` say which
// fields it has, `request_seen` whether an earlier message had the request.
// INVALID_ARGUMENT, naming `method` ("TopKStream"), for a message with
// neither or both, a chunk before the request, or a second request.
absl::StatusOr<StreamPart> ClassifyStreamMessage(bool has_request,
                                                 bool has_chunk,
                                                 bool request_seen,
                                                 absl::string_view method);

// The dtype, shape and byte size of a streamed request's tensor `field`.
// INVALID_ARGUMENT if it carries data or a shared memory reference (its
// bytes come in chunks), or as wire::SpecFromProto; RESOURCE_EXHAUSTED past
// the streamed element limit.
absl::StatusOr<wire::TensorSpec> StreamedTensorSpec(
    const tensorops::v1::Tensor& tensor, absl::string_view field,
    const RequestLimits& limits);

struct StreamedTopKPlan {
  DType dtype;
  Shape shape;
  TopKCallPlan call;
  int64_t input_bytes = 0;  // the chunks' total
  // The input as `slices` consecutive slices of `slice_bytes` each (the
  // elements sharing the indices before dim), each selected on its own.
  // Both 0 for an input without elements.
  int64_t slices = 0;
  int64_t slice_bytes = 0;
};

// A TopKStream's request. INVALID_ARGUMENT as PlanTopKRequest and
// StreamedTensorSpec, and for result shared memory; RESOURCE_EXHAUSTED past
// the streamed element limit or for a slice over --max_stream_buffer_bytes.
absl::StatusOr<StreamedTopKPlan> PlanStreamedTopK(
    const tensorops::v1::TopKRequest& request, const RequestLimits& limits);

// ZerosLikeStream's and OnesLikeStream's requests (no chunks follow them).
absl::StatusOr<FillPlan> PlanStreamedZerosLike(
    const tensorops::v1::ZerosLikeRequest& request,
    const RequestLimits& limits);
absl::StatusOr<FillPlan> PlanStreamedOnesLike(
    const tensorops::v1::OnesLikeRequest& request, const RequestLimits& limits);

// The chunks of a BackwardStream: grad_values' bytes, then (stateless form)
// indices'.
struct StreamedBackwardLayout {
  wire::TensorSpec grad_values;
  // Set for the stateless form.
  std::optional<wire::TensorSpec> indices;
  int64_t total_bytes() const {
    return grad_values.byte_size + (indices ? indices->byte_size : 0);
  }
};

// A BackwardStream's request, as far as it can be checked before its
// chunks: the tensors' specs, the session or stateless fields (as
// DecodeBackwardRequest), and that the two tensors together fit
// --max_stream_buffer_bytes. The stateless form's shapes are planned
// (PlanTopKBackward) too.
absl::StatusOr<StreamedBackwardLayout> PlanStreamedBackward(
    const tensorops::v1::BackwardRequest& request, const RequestLimits& limits);

// RESOURCE_EXHAUSTED if one slice of grad_input (along plan.dim: the
// elements sharing the indices before it), which a BackwardStream produces
// whole, is over --max_stream_buffer_bytes.
absl::Status CheckStreamedBackwardSlice(const BackwardRequestPlan& plan,
                                        const RequestLimits& limits);

// Counts a stream's chunk bytes against what its request's tensors hold.
class ChunkCounter {
 public:
  // `what` describes the bytes ("TopKStream's input, float32 [2, 3]").
  ChunkCounter(int64_t expected_bytes, std::string what);

  int64_t expected() const { return expected_; }
  int64_t received() const { return received_; }
  bool complete() const { return received_ == expected_; }

  // Counts a chunk of `bytes`. INVALID_ARGUMENT for any chunk once the
  // bytes are complete, and for one that would pass them.
  absl::Status Add(int64_t bytes);

  // INVALID_ARGUMENT if the stream ended before all bytes arrived.
  absl::Status CheckComplete() const;

 private:
  int64_t expected_;
  int64_t received_ = 0;
  std::string what_;
};

}  // namespace tensorops::request

#endif  // TENSOROPS_REQUEST_STREAM_REQUEST_H_
