// The limits every request is validated against, with their defaults: the
// one place they are written (the server's flags and the fuzzer read them
// from here).
#ifndef TENSOROPS_REQUEST_LIMITS_H_
#define TENSOROPS_REQUEST_LIMITS_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/shape.h"

namespace tensorops::request {

struct RequestLimits {
  // Largest request, and largest response, in serialized bytes
  // (--max_message_bytes). gRPC cannot send more than 2 GiB.
  int64_t max_message_bytes = int64_t{600} << 20;
  // Elements in any tensor a request carries or asks for
  // (--max_tensor_elements).
  int64_t max_tensor_elements = int64_t{1} << 28;
  // Streamed calls (request/stream_request.h) carry tensors in chunks, so
  // the message limit does not bound them; instead: elements in any tensor
  // a streamed call carries or asks for (--max_streamed_tensor_elements;
  // 2^34 is 64 GiB of float32), and the bytes one streamed call may hold of
  // a tensor it must keep whole (--max_stream_buffer_bytes).
  int64_t max_streamed_tensor_elements = int64_t{1} << 34;
  int64_t max_stream_buffer_bytes = int64_t{1} << 30;
  // Set by StreamedLimits: messages then name the streamed limit's flag.
  bool streamed = false;
};

// The limits a streamed call's request is planned with: its element limit
// is max_streamed_tensor_elements, and no message limit applies (results go
// out in chunks).
RequestLimits StreamedLimits(const RequestLimits& limits);

// RESOURCE_EXHAUSTED naming --max_message_bytes if a request of
// `request_bytes` serialized bytes is over the limit.
absl::Status CheckRequestSize(const RequestLimits& limits,
                              int64_t request_bytes);

// RESOURCE_EXHAUSTED naming --max_tensor_elements if `shape` (of the tensor
// described by `what`) has more elements than allowed.
absl::Status CheckElementLimit(const RequestLimits& limits, ShapeView shape,
                               absl::string_view what);

// The most bytes a response carrying `tensors` tensors of `data_bytes` in
// total (their ranks summing to `total_rank`) can take; RESOURCE_EXHAUSTED
// naming --max_message_bytes if that exceeds the message limit.
absl::StatusOr<int64_t> ResponseBound(const RequestLimits& limits,
                                      int64_t data_bytes, size_t total_rank,
                                      int tensors);

// The response bytes a result of `data_bytes` takes: its data when it comes
// back inline, else (written to shared memory) at most the reference to it.
int64_t ResultWireBytes(int64_t data_bytes, bool to_shared_memory);

}  // namespace tensorops::request

#endif  // TENSOROPS_REQUEST_LIMITS_H_
