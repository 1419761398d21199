// Parsing request messages that gRPC hands over as raw bytes.
//
// The service receives every method's request as a grpc::ByteBuffer (raw
// callback methods) so that it can parse large ones without copying their
// tensor payload (proto/lifted_field.h), and so that bytes that are not a
// valid request get INVALID_ARGUMENT with a message instead of gRPC's bare
// error.
#ifndef TENSOROPS_SERVER_RECEIVED_REQUEST_H_
#define TENSOROPS_SERVER_RECEIVED_REQUEST_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "core/chunked_tensor.h"
#include "google/protobuf/message.h"
#include "proto/lifted_field.h"

namespace tensorops::server {

// Requests at least this large have their payload lifted out instead of
// copied; below it protobuf's single copy is cheaper than the walk.
inline constexpr int64_t kLiftMinBytes = int64_t{256} << 10;

// What parsing keeps besides the message: the received slices (holding the
// lifted bytes) and the lifted payloads themselves.
struct ReceivedPayload {
  std::vector<grpc::Slice> slices;
  // lifted[i] is set when the field at lift path i was lifted out of the
  // message; the message's field is then empty and these are its bytes.
  // Empty when nothing was lifted.
  std::vector<std::optional<ChunkedBytes>> lifted;

  // lifted[path], or nullopt when that field was not lifted.
  const std::optional<ChunkedBytes>& Lifted(size_t path) const;
};

// Parses `wire` into `request` (which must be empty). If `lift_paths` is not
// empty and the message has at least `lift_min_bytes` bytes, the bytes
// fields they name are read in place into payload->lifted instead of copied.
// INVALID_ARGUMENT, naming the message type, if `wire` is not a valid
// serialization of it.
absl::Status ParseRequest(const grpc::ByteBuffer& wire,
                          absl::Span<const wire::FieldPath> lift_paths,
                          int64_t lift_min_bytes,
                          google::protobuf::Message* request,
                          ReceivedPayload* payload);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_RECEIVED_REQUEST_H_
