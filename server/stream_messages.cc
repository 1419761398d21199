#include "server/stream_messages.h"

#include <grpcpp/support/slice.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "proto/lifted_field.h"
#include "proto/wire_varint.h"

namespace tensorops::server {
namespace {

constexpr int kMessageField = 1;
constexpr int kChunkField = 2;
constexpr int kChunkPath[] = {kChunkField};

absl::Status NotAValid(absl::string_view method) {
  return absl::InvalidArgumentError(absl::StrCat(
      "a ", method,
      " message did not parse (protobuf parsing failed); expected a ", method,
      "Request serialized in the protobuf binary format"));
}

}  // namespace

absl::StatusOr<request::StreamPart> ParseStreamMessage(
    const grpc::ByteBuffer& wire,
    const google::protobuf::Message& stream_request, bool request_seen,
    absl::string_view method, google::protobuf::Message* request,
    ReceivedChunk* chunk) {
  auto slices = std::make_shared<std::vector<grpc::Slice>>();
  if (!wire.Dump(slices.get()).ok()) return NotAValid(method);
  std::vector<absl::Span<const std::byte>> spans;
  spans.reserve(slices->size());
  for (const grpc::Slice& slice : *slices) {
    spans.emplace_back(reinterpret_cast<const std::byte*>(slice.begin()),
                       slice.size());
  }
  std::optional<wire::LiftedMessage> lifted =
      wire::LiftBytesFields(ChunkedBytes(std::move(spans)), {kChunkPath});
  std::unique_ptr<google::protobuf::Message> parsed(stream_request.New());
  const google::protobuf::Descriptor* descriptor = parsed->GetDescriptor();
  const google::protobuf::FieldDescriptor* request_field =
      descriptor->FindFieldByNumber(kMessageField);
  const google::protobuf::Reflection* reflection = parsed->GetReflection();
  std::optional<ChunkedBytes> chunk_bytes;
  std::shared_ptr<const void> holder;
  if (lifted.has_value()) {
    // What is left holds field 1 (and unknown fields): protobuf parses it
    // as it would the whole message.
    if (!parsed->ParseFromString(lifted->rest)) return NotAValid(method);
    chunk_bytes = std::move(lifted->fields[0]);
    holder = std::move(slices);
  } else {
    // Not understood by the walk: protobuf decides on the whole message.
    std::string whole;
    for (const grpc::Slice& slice : *slices) {
      whole.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    if (!parsed->ParseFromString(whole)) return NotAValid(method);
    const google::protobuf::FieldDescriptor* chunk_field =
        descriptor->FindFieldByNumber(kChunkField);
    if (reflection->HasField(*parsed, chunk_field)) {
      auto owned = std::make_shared<std::string>(
          reflection->GetString(*parsed, chunk_field));
      chunk_bytes = ChunkedBytes({absl::MakeConstSpan(
          reinterpret_cast<const std::byte*>(owned->data()), owned->size())});
      holder = std::move(owned);
    }
  }
  const bool has_request = reflection->HasField(*parsed, request_field);
  TENSOROPS_ASSIGN_OR_RETURN(
      const request::StreamPart part,
      request::ClassifyStreamMessage(has_request, chunk_bytes.has_value(),
                                     request_seen, method));
  if (part == request::StreamPart::kRequest) {
    request->CopyFrom(reflection->GetMessage(*parsed, request_field));
  } else {
    chunk->bytes = *std::move(chunk_bytes);
    chunk->holder = std::move(holder);
  }
  return part;
}

absl::StatusOr<grpc::ByteBuffer> ResponseMessage(
    const google::protobuf::Message& response) {
  std::string body;
  if (!response.SerializeToString(&body)) {
    return absl::InternalError("a stream's response could not be serialized");
  }
  std::string message;
  wire::AppendVarint(wire::LengthDelimitedTag(kMessageField), &message);
  wire::AppendVarint(body.size(), &message);
  message += body;
  grpc::Slice slice(message);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace tensorops::server
