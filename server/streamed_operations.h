// The streamed operations (server/streamed_call.h): TopK selecting slices
// as they arrive, Backward producing grad_input slice by slice, and the
// fills sending one chunk again and again. Each is started from its
// stream's request, validated by the request layer (request/stream_request.h)
// before any chunk is accepted.
#ifndef TENSOROPS_SERVER_STREAMED_OPERATIONS_H_
#define TENSOROPS_SERVER_STREAMED_OPERATIONS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "core/backend.h"
#include "request/limits.h"
#include "server/session_cache.h"
#include "server/streamed_call.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::server {

// What the operations work with; must outlive them.
struct StreamContext {
  Backend& backend;
  SessionCache& sessions;
  const request::RequestLimits& limits;
  std::string caller;
  int64_t chunk_bytes = kStreamChunkBytes;  // of the messages sent
  // Takes bytes of the server's response budget for as long as the call
  // lives (--max_inflight_response_bytes).
  absl::FunctionRef<absl::Status(int64_t)> reserve;
};

// Received bytes are computed on in batches of at least this many (or one
// slice, if larger).
inline constexpr int64_t kStreamBatchBytes = int64_t{4} << 20;

absl::StatusOr<std::unique_ptr<StreamedOperation>> StartStreamedTopK(
    const tensorops::v1::TopKRequest& request, const StreamContext& context);
absl::StatusOr<std::unique_ptr<StreamedOperation>> StartStreamedBackward(
    const tensorops::v1::BackwardRequest& request,
    const StreamContext& context);
absl::StatusOr<std::unique_ptr<StreamedOperation>> StartStreamedZerosLike(
    const tensorops::v1::ZerosLikeRequest& request,
    const StreamContext& context);
absl::StatusOr<std::unique_ptr<StreamedOperation>> StartStreamedOnesLike(
    const tensorops::v1::OnesLikeRequest& request,
    const StreamContext& context);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_STREAMED_OPERATIONS_H_
