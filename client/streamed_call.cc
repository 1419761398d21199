#include "client/streamed_call.h"

#include <grpcpp/support/slice.h>
#include <grpcpp/support/sync_stream.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/grpc_status.h"
#include "core/shape.h"
#include "proto/outgoing_message.h"
#include "proto/tensor_codec.h"
#include "proto/wire_varint.h"

namespace tensorops::client {
namespace {

namespace v1 = ::tensorops::v1;

// The `chunk` field of every *StreamRequest and *StreamResponse, and the
// first byte of its tag (field 2, length-delimited).
constexpr int kChunkFieldNumber = 2;
static_assert(v1::TopKStreamRequest::kChunkFieldNumber == kChunkFieldNumber &&
              v1::BackwardStreamResponse::kChunkFieldNumber ==
                  kChunkFieldNumber &&
              v1::ZerosLikeStreamResponse::kChunkFieldNumber ==
                  kChunkFieldNumber);
// And their `request` / `response` field.
constexpr int kPartFieldNumber = 1;
static_assert(v1::TopKStreamRequest::kRequestFieldNumber == kPartFieldNumber &&
              v1::TopKStreamResponse::kResponseFieldNumber == kPartFieldNumber);

// Reads a message's bytes across its slices.
class SliceReader {
 public:
  explicit SliceReader(const std::vector<grpc::Slice>& slices)
      : slices_(slices) {
    SkipEmpty();
  }

  bool done() const { return slice_ == slices_.size(); }

  absl::StatusOr<uint64_t> ReadVarint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64 && !done(); shift += 7) {
      const uint8_t byte = slices_[slice_].begin()[pos_];
      Advance(1);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return absl::InternalError(
        "the server sent a malformed stream message (bad varint)");
  }

  // The rest of the current slice, consumed.
  absl::Span<const std::byte> TakeSlicePart() {
    const grpc::Slice& slice = slices_[slice_];
    absl::Span<const std::byte> part(
        reinterpret_cast<const std::byte*>(slice.begin()) + pos_,
        slice.size() - pos_);
    Advance(part.size());
    return part;
  }

 private:
  void Advance(size_t n) {
    pos_ += n;
    if (pos_ == slices_[slice_].size()) {
      ++slice_;
      pos_ = 0;
      SkipEmpty();
    }
  }
  void SkipEmpty() {
    while (slice_ < slices_.size() && slices_[slice_].size() == 0) ++slice_;
  }

  const std::vector<grpc::Slice>& slices_;
  size_t slice_ = 0;
  size_t pos_ = 0;
};

int64_t TotalBytes(absl::Span<const Tensor> tensors) {
  int64_t total = 0;
  for (const Tensor& tensor : tensors) total += tensor.byte_size();
  return total;
}

// The result tensors the first response describes, allocated. A header that
// is not a valid tensor without data is the server's fault: INTERNAL.
absl::StatusOr<std::vector<Tensor>> AllocateResults(
    const std::vector<StreamedTensorField>& fields) {
  std::vector<Tensor> tensors;
  tensors.reserve(fields.size());
  for (const StreamedTensorField& field : fields) {
    absl::StatusOr<wire::TensorSpec> spec = wire::SpecFromProto(
        *field.header, field.name, wire::DataPolicy::kOptional);
    if (!spec.ok()) {
      return absl::InternalError(
          absl::StrCat("the server's stream described a malformed tensor: ",
                       spec.status().message()));
    }
    if (!field.header->data().empty() || field.header->has_shared_memory()) {
      return absl::InternalError(
          absl::StrCat("the server's stream response carries ", field.name,
                       " bytes in its first message; expected them in chunks"));
    }
    absl::StatusOr<Tensor> tensor =
        Tensor::Allocate(spec->dtype, std::move(spec->shape));
    if (!tensor.ok()) return tensor.status();
    tensors.push_back(*std::move(tensor));
  }
  return tensors;
}

std::string ByteCount(int64_t bytes) { return absl::StrCat(bytes, " bytes"); }

}  // namespace

StreamedTensorSink::StreamedTensorSink(std::vector<Tensor> tensors)
    : tensors_(std::move(tensors)), total_(TotalBytes(tensors_)) {}

absl::Status StreamedTensorSink::Append(absl::Span<const std::byte> bytes) {
  if (static_cast<int64_t>(bytes.size()) > total_ - received_) {
    return absl::InternalError(absl::StrCat(
        "the server's stream sent more bytes than its response's tensors "
        "hold: ",
        ByteCount(received_ + static_cast<int64_t>(bytes.size())),
        " or more; expected ", ByteCount(total_)));
  }
  received_ += static_cast<int64_t>(bytes.size());
  while (!bytes.empty()) {
    Tensor& tensor = tensors_[tensor_];
    const size_t room = tensor.byte_size() - offset_;
    if (room == 0) {
      ++tensor_;
      offset_ = 0;
      continue;
    }
    const size_t n = std::min(room, bytes.size());
    std::memcpy(tensor.mutable_data() + offset_, bytes.data(), n);
    offset_ += n;
    bytes.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::Status StreamedTensorSink::AppendChunkMessage(
    const grpc::ByteBuffer& message) {
  std::vector<grpc::Slice> slices;
  if (!message.Dump(&slices).ok()) {
    return absl::InternalError("could not read the server's stream message");
  }
  SliceReader reader(slices);
  if (reader.done()) {
    return absl::InternalError(
        "the server's stream sent a message with neither a response nor a "
        "chunk");
  }
  absl::StatusOr<uint64_t> tag = reader.ReadVarint();
  if (!tag.ok()) return tag.status();
  if (*tag != wire::LengthDelimitedTag(kChunkFieldNumber)) {
    return absl::InternalError(absl::StrCat(
        "the server's stream sent a message that is not a chunk (field ",
        *tag >> 3, ") after its response; expected chunks only"));
  }
  absl::StatusOr<uint64_t> size = reader.ReadVarint();
  if (!size.ok()) return size.status();
  uint64_t left = *size;
  while (!reader.done()) {
    const absl::Span<const std::byte> part = reader.TakeSlicePart();
    if (part.size() > left) break;
    left -= part.size();
    if (absl::Status appended = Append(part); !appended.ok()) return appended;
  }
  if (left != 0 || !reader.done()) {
    return absl::InternalError(
        "the server's stream sent a malformed chunk message (its length does "
        "not match its bytes)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tensor>> RunStreamedCall(
    grpc::ChannelInterface* channel, const grpc::internal::RpcMethod& method,
    grpc::ClientContext* context,
    const google::protobuf::Message& first_request,
    absl::Span<const Tensor> request_tensors, int64_t chunk_bytes,
    google::protobuf::Message* first_response, StreamedTensorFields fields) {
  const size_t chunk = static_cast<size_t>(std::max<int64_t>(chunk_bytes, 1));
  std::string request_bytes;
  if (!first_request.SerializeToString(&request_bytes)) {
    return absl::InternalError("the stream's request could not be serialized");
  }
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>>
      stream(grpc::internal::ClientReaderWriterFactory<
             grpc::ByteBuffer, grpc::ByteBuffer>::Create(channel, method,
                                                         context));

  // The server answers only once the client half-closed, so everything is
  // written first. A failed write means the call is over (the server
  // refused the request, the deadline passed): stop and take its status.
  grpc::Slice request_slice(request_bytes);
  bool writing = stream->Write(grpc::ByteBuffer(&request_slice, 1));
  for (const Tensor& tensor : request_tensors) {
    for (size_t offset = 0; writing && offset < tensor.byte_size();
         offset += chunk) {
      const size_t size = std::min(chunk, tensor.byte_size() - offset);
      writing = stream->Write(wire::StreamChunkMessage(tensor, offset, size));
    }
  }
  if (writing) stream->WritesDone();

  // Our own finding about the response; once set, the call is cancelled and
  // the rest of the stream is not read.
  absl::Status broken;
  std::optional<StreamedTensorSink> sink;
  grpc::ByteBuffer message;
  while (broken.ok() && stream->Read(&message)) {
    if (sink.has_value()) {
      broken = sink->AppendChunkMessage(message);
      continue;
    }
    grpc::Slice whole;
    if (!message.DumpToSingleSlice(&whole).ok() ||
        !first_response->ParseFromArray(whole.begin(),
                                        static_cast<int>(whole.size()))) {
      broken = absl::InternalError(
          absl::StrCat("the server's first stream message does not parse as ",
                       first_response->GetTypeName()));
      break;
    }
    const google::protobuf::Reflection* reflection =
        first_response->GetReflection();
    const google::protobuf::FieldDescriptor* part =
        first_response->GetDescriptor()->FindFieldByNumber(kPartFieldNumber);
    if (part == nullptr || !reflection->HasField(*first_response, part)) {
      broken = absl::InternalError(
          "the server's stream did not start with a response; expected one "
          "before any chunk");
      break;
    }
    absl::StatusOr<std::vector<Tensor>> results =
        AllocateResults(fields(*first_response));
    if (!results.ok()) {
      broken = results.status();
      break;
    }
    sink.emplace(*std::move(results));
  }
  if (!broken.ok()) context->TryCancel();
  const grpc::Status status = stream->Finish();
  // Ours when we found the response broken (and cancelled the call, whose
  // status then says CANCELLED); else the server's, which a failed call may
  // send after part of its chunks.
  if (!broken.ok()) return broken;
  if (!status.ok()) return FromGrpcStatus(status);
  if (!sink.has_value()) {
    return absl::InternalError(
        "the server ended the stream OK without a response");
  }
  if (!sink->complete()) {
    return absl::DataLossError(absl::StrCat(
        "the server ended the stream OK after ", ByteCount(sink->received()),
        " of its response's ", ByteCount(sink->total())));
  }
  return std::move(*sink).Take();
}

}  // namespace tensorops::client
