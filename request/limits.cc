#include "request/limits.h"

#include <limits>
#include <string>

#include "absl/strings/str_cat.h"

namespace tensorops::request {

absl::Status CheckRequestSize(const RequestLimits& limits,
                              int64_t request_bytes) {
  if (request_bytes <= limits.max_message_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("the request has ", request_bytes,
                   " bytes, more than this server's message limit of ",
                   limits.max_message_bytes,
                   " bytes (--max_message_bytes); expected a smaller request"));
}

absl::Status CheckElementLimit(const RequestLimits& limits, ShapeView shape,
                               absl::string_view what) {
  absl::StatusOr<int64_t> count = NumElements(shape);
  if (count.ok() && *count <= limits.max_tensor_elements) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      what, " has ",
      count.ok() ? absl::StrCat(*count) : std::string("more than 2^63"),
      " elements (shape ", ShapeToString(shape),
      "), more than this server's limit of ", limits.max_tensor_elements,
      limits.streamed
          ? " per tensor of a streamed call (--max_streamed_tensor_elements)"
          : " per tensor (--max_tensor_elements); streamed calls (TopKStream "
            "and the like) take larger ones",
      "; expected a smaller tensor"));
}

RequestLimits StreamedLimits(const RequestLimits& limits) {
  RequestLimits streamed = limits;
  streamed.max_message_bytes = std::numeric_limits<int64_t>::max();
  streamed.max_tensor_elements = limits.max_streamed_tensor_elements;
  streamed.streamed = true;
  return streamed;
}

int64_t ResultWireBytes(int64_t data_bytes, bool to_shared_memory) {
  // A SharedMemoryRef: its name (at most 128 bytes), two varints and tags.
  constexpr int64_t kRefBytes = 128 + 2 * 11 + 8;
  return to_shared_memory ? kRefBytes : data_bytes;
}

absl::StatusOr<int64_t> ResponseBound(const RequestLimits& limits,
                                      int64_t data_bytes, size_t total_rank,
                                      int tensors) {
  // Upper bound of the encoding: every dim is a varint of at most 10 bytes,
  // plus tags, lengths and the other small fields.
  const int64_t overhead =
      static_cast<int64_t>(total_rank) * 10 + int64_t{64} * (tensors + 1);
  if (data_bytes <= limits.max_message_bytes - overhead) {
    return data_bytes + overhead;
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "the response would carry ", data_bytes,
      " bytes of tensor data, more than this server's message limit of ",
      limits.max_message_bytes,
      " bytes (--max_message_bytes); expected a smaller result"));
}

}  // namespace tensorops::request
