// Sending tensors without copying them into the message that carries them.
//
// Protobuf would copy a result into the message's `bytes` field and gRPC
// would copy the serialized message again into its buffers; for a 64 MiB
// result both copies (and the fresh pages they land on) cost more than
// computing it. OutgoingMessage instead sends each attached tensor's bytes
// as a gRPC slice that points at the tensor (kept alive, through the
// tensor's owner, until gRPC has written it), after the rest of the message.
// The server sends its responses this way and the C++ client its requests.
#ifndef TENSOROPS_PROTO_OUTGOING_MESSAGE_H_
#define TENSOROPS_PROTO_OUTGOING_MESSAGE_H_

#include <grpcpp/support/byte_buffer.h>

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/tensor.h"
#include "google/protobuf/message.h"

namespace tensorops::wire {

// Not thread-safe; one per message.
class OutgoingMessage {
 public:
  // Sends `tensor` as the tensorops.v1.Tensor in field `field_number` of the
  // message, which must be a singular Tensor field left unset in the message
  // passed to Serialize.
  void AttachTensor(int field_number, Tensor tensor) {
    tensors_.emplace_back(field_number, std::move(tensor));
  }

  // `message` followed by the attached tensor fields, in the protobuf binary
  // format (fields may come in any order; parsers merge them), into `out`.
  // INTERNAL if the message cannot be serialized.
  absl::Status Serialize(const google::protobuf::Message& message,
                         grpc::ByteBuffer* out) const;

 private:
  std::vector<std::pair<int, Tensor>> tensors_;
};

// A streamed call's message carrying `size` bytes of `tensor` from `offset`
// as its chunk (field 2 of every *StreamRequest and *StreamResponse): small
// chunks are copied, larger ones are sent from the tensor's memory, a copy
// of the tensor kept alive until gRPC has written them. [offset, offset +
// size) must lie within the tensor's bytes.
grpc::ByteBuffer StreamChunkMessage(const Tensor& tensor, size_t offset,
                                    size_t size);

}  // namespace tensorops::wire

#endif  // TENSOROPS_PROTO_OUTGOING_MESSAGE_H_
