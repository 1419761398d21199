// The messages of streamed calls on the wire (see the proto's comment above
// TopKStreamRequest): every *StreamRequest and *StreamResponse is a oneof of
// field 1, the unary message, and field 2, `bytes chunk`.
#ifndef TENSOROPS_SERVER_STREAM_MESSAGES_H_
#define TENSOROPS_SERVER_STREAM_MESSAGES_H_

#include <grpcpp/support/byte_buffer.h>

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/chunked_tensor.h"
#include "core/tensor.h"
#include "google/protobuf/message.h"
#include "request/stream_request.h"

namespace tensorops::server {

// A chunk as it arrived: bytes read in place, kept alive by `holder` (the
// message's slices).
struct ReceivedChunk {
  ChunkedBytes bytes;
  std::shared_ptr<const void> holder;
};

// Parses one client message of a stream of `method` ("TopKStream"), whose
// messages are of `stream_request`'s type (TopKStreamRequest): the request
// into `request` (of the unary request's type), or the chunk into `chunk`,
// read in place. INVALID_ARGUMENT for bytes that do not parse, and as
// request::ClassifyStreamMessage.
absl::StatusOr<request::StreamPart> ParseStreamMessage(
    const grpc::ByteBuffer& wire,
    const google::protobuf::Message& stream_request, bool request_seen,
    absl::string_view method, google::protobuf::Message* request,
    ReceivedChunk* chunk);

// A server message carrying `response` (field 1). INTERNAL if it cannot be
// serialized.
absl::StatusOr<grpc::ByteBuffer> ResponseMessage(
    const google::protobuf::Message& response);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_STREAM_MESSAGES_H_
