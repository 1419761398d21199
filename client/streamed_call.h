// The client side of the streamed calls (TopKStream, BackwardStream,
// ZerosLikeStream, OnesLikeStream): the protocol is the comment above
// TopKStreamRequest in proto/tensorops/v1/tensor_ops.proto.
//
// They exist for tensors past what one message carries (2 GiB, and the
// server's --max_message_bytes), so neither direction ever holds a tensor in
// a message: requests are sent in chunks that point into the input tensors'
// own memory (gRPC slices keeping a copy of the tensor alive, as
// wire::OutgoingMessage does), and each received chunk is copied once, into
// the result tensor allocated from the response's first message.
#ifndef TENSOROPS_CLIENT_STREAMED_CALL_H_
#define TENSOROPS_CLIENT_STREAMED_CALL_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/byte_buffer.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/tensor.h"
#include "google/protobuf/message.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::client {

// The chunk size the server prefers (GetServerInfoResponse's
// stream_chunk_bytes), so the client need not ask it first.
inline constexpr int64_t kDefaultStreamChunkBytes = int64_t{2} << 20;

// One tensor of a streamed response, as its first message describes it
// (dtype and shape, no data), and the field's name for error messages.
struct StreamedTensorField {
  const tensorops::v1::Tensor* header;
  absl::string_view name;
};

// The response's tensors in field order (their chunks come in that order),
// given its first message, already parsed into the *StreamResponse passed
// to RunStreamedCall.
using StreamedTensorFields = absl::FunctionRef<std::vector<StreamedTensorField>(
    const google::protobuf::Message& first_response)>;

// One streamed call of `method` (a BIDI_STREAMING method) under `context`:
// writes `first_request` (a *StreamRequest whose `request` is set, its
// tensors carrying dtype and shape only), then the bytes of
// `request_tensors`, in that order, in chunks of at most `chunk_bytes`, and
// half-closes; then reads the response: its first message into
// `first_response` (a *StreamResponse), then the chunks into the tensors
// `fields` lists, which are allocated here and returned in that order.
//
// Errors: the server's status when it is not OK (and a write that fails
// stops the writing at once, to get it); INTERNAL for a response that does
// not follow the protocol (no first response, a malformed tensor, more
// bytes than its tensors hold); DATA_LOSS for a call the server ended OK
// with fewer bytes than its tensors hold.
absl::StatusOr<std::vector<Tensor>> RunStreamedCall(
    grpc::ChannelInterface* channel, const grpc::internal::RpcMethod& method,
    grpc::ClientContext* context,
    const google::protobuf::Message& first_request,
    absl::Span<const Tensor> request_tensors, int64_t chunk_bytes,
    google::protobuf::Message* first_response, StreamedTensorFields fields);

// Receives a streamed response's bytes into its tensors, in order.
class StreamedTensorSink {
 public:
  explicit StreamedTensorSink(std::vector<Tensor> tensors);

  // Appends a message that must be { bytes chunk = 2; }. INTERNAL for any
  // other message and for bytes beyond the tensors' total.
  absl::Status AppendChunkMessage(const grpc::ByteBuffer& message);
  absl::Status Append(absl::Span<const std::byte> bytes);

  bool complete() const { return received_ == total_; }
  int64_t received() const { return received_; }
  int64_t total() const { return total_; }

  std::vector<Tensor> Take() && { return std::move(tensors_); }

 private:
  std::vector<Tensor> tensors_;
  int64_t total_ = 0;
  int64_t received_ = 0;
  // Where the next byte goes: tensors_[tensor_], at byte offset_.
  size_t tensor_ = 0;
  size_t offset_ = 0;
};

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_STREAMED_CALL_H_
