#include "proto/outgoing_message.h"

#include <grpcpp/support/slice.h>

#include <cstddef>
#include <string>

#include "proto/tensor_codec.h"
#include "proto/wire_varint.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::wire {
namespace {

// Smaller tensors are copied into the message buffer: a slice of its own
// costs more than copying that much.
constexpr size_t kOwnSliceMinBytes = size_t{64} << 10;

void ReleaseTensor(void* tensor) { delete static_cast<Tensor*>(tensor); }

}  // namespace

absl::Status OutgoingMessage::Serialize(
    const google::protobuf::Message& message, grpc::ByteBuffer* out) const {
  std::string head;
  if (!message.AppendToString(&head)) {
    return absl::InternalError(
        "the message could not be serialized (over 2 GiB?)");
  }
  std::vector<grpc::Slice> slices;
  for (const auto& [field_number, tensor] : tensors_) {
    tensorops::v1::Tensor header;
    SpecToProto(tensor.dtype(), tensor.shape(), &header);
    const std::string header_bytes = header.SerializeAsString();
    const size_t data_size = tensor.byte_size();
    std::string data_prefix;
    if (data_size > 0) {  // proto3 leaves empty bytes off the wire
      AppendVarint(LengthDelimitedTag(tensorops::v1::Tensor::kDataFieldNumber),
                   &data_prefix);
      AppendVarint(data_size, &data_prefix);
    }
    AppendVarint(LengthDelimitedTag(field_number), &head);
    AppendVarint(header_bytes.size() + data_prefix.size() + data_size, &head);
    head += header_bytes;
    head += data_prefix;
    const char* data = reinterpret_cast<const char*>(tensor.data());
    if (data_size < kOwnSliceMinBytes) {
      head.append(data, data_size);
      continue;
    }
    slices.emplace_back(head);
    head.clear();
    // The slice keeps a copy of the tensor (sharing its bytes) alive until
    // gRPC has sent it.
    slices.emplace_back(const_cast<char*>(data), data_size, &ReleaseTensor,
                        new Tensor(tensor));
  }
  if (!head.empty() || slices.empty()) slices.emplace_back(head);
  *out = grpc::ByteBuffer(slices.data(), slices.size());
  return absl::OkStatus();
}

grpc::ByteBuffer StreamChunkMessage(const Tensor& tensor, size_t offset,
                                    size_t size) {
  // Field 2 of every *StreamRequest and *StreamResponse.
  static_assert(tensorops::v1::TopKStreamRequest::kChunkFieldNumber == 2 &&
                tensorops::v1::TopKStreamResponse::kChunkFieldNumber == 2);
  std::string head;
  AppendVarint(LengthDelimitedTag(2), &head);
  AppendVarint(size, &head);
  const char* data = reinterpret_cast<const char*>(tensor.data()) + offset;
  if (size < kOwnSliceMinBytes) {
    head.append(data, size);
    grpc::Slice slice(head);
    return grpc::ByteBuffer(&slice, 1);
  }
  grpc::Slice slices[] = {grpc::Slice(head),
                          // Keeps a copy of the tensor (sharing its bytes)
                          // alive until gRPC has sent it.
                          grpc::Slice(const_cast<char*>(data), size,
                                      &ReleaseTensor, new Tensor(tensor))};
  return grpc::ByteBuffer(slices, 2);
}

}  // namespace tensorops::wire
