#include "server/received_request.h"

#include <grpcpp/support/proto_buffer_reader.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/lifted_field.h"

namespace tensorops::server {
namespace {

absl::Status NotAValid(const google::protobuf::Message& request) {
  return absl::InvalidArgumentError(absl::StrCat(
      "the request is not a valid ", request.GetTypeName(),
      " (protobuf parsing failed); expected that message serialized in the "
      "protobuf binary format"));
}

}  // namespace

const std::optional<ChunkedBytes>& ReceivedPayload::Lifted(size_t path) const {
  static const std::optional<ChunkedBytes> kNotLifted;
  return path < lifted.size() ? lifted[path] : kNotLifted;
}

absl::Status ParseRequest(const grpc::ByteBuffer& wire,
                          absl::Span<const wire::FieldPath> lift_paths,
                          int64_t lift_min_bytes,
                          google::protobuf::Message* request,
                          ReceivedPayload* payload) {
  if (!lift_paths.empty() &&
      static_cast<int64_t>(wire.Length()) >= lift_min_bytes &&
      wire.Dump(&payload->slices).ok()) {
    std::vector<absl::Span<const std::byte>> chunks;
    chunks.reserve(payload->slices.size());
    for (const grpc::Slice& slice : payload->slices) {
      chunks.emplace_back(reinterpret_cast<const std::byte*>(slice.begin()),
                          slice.size());
    }
    std::optional<wire::LiftedMessage> lifted =
        wire::LiftBytesFields(ChunkedBytes(std::move(chunks)), lift_paths);
    if (lifted.has_value()) {
      if (!request->ParseFromString(lifted->rest)) return NotAValid(*request);
      payload->lifted = std::move(lifted->fields);
      return absl::OkStatus();
    }
    // Not understood by the walk: protobuf decides on the whole message.
    payload->slices.clear();
  }
  grpc::Slice single;
  if (wire.TrySingleSlice(&single).ok()) {
    if (!request->ParseFromArray(single.begin(),
                                 static_cast<int>(single.size()))) {
      return NotAValid(*request);
    }
    return absl::OkStatus();
  }
  grpc::ByteBuffer copy(wire);  // shares the slices; the reader consumes it
  grpc::ProtoBufferReader reader(&copy);
  if (!request->ParseFromZeroCopyStream(&reader)) return NotAValid(*request);
  return absl::OkStatus();
}

}  // namespace tensorops::server
