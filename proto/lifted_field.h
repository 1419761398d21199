// Parsing a large request without copying its payload.
//
// Protobuf parses a `bytes` field by copying it into a fresh std::string. For
// a 131 MB tensor that copy (and the page faults of its fresh memory) costs
// more than receiving the message and computing topk together. LiftBytesField
// walks the serialized message, leaves one bytes field where it arrived and
// returns everything else re-serialized without it: small, for protobuf to
// parse as usual, so every other field keeps protobuf's exact semantics.
#ifndef TENSOROPS_PROTO_LIFTED_FIELD_H_
#define TENSOROPS_PROTO_LIFTED_FIELD_H_

#include <optional>
#include <string>

#include "absl/types/span.h"
#include "core/chunked_tensor.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::wire {

// input.data of ZerosLike-, OnesLike- and TopKRequest: the payload of a large
// request (all three hold their input tensor in the same field).
inline constexpr int kInputDataPath[] = {
    tensorops::v1::TopKRequest::kInputFieldNumber,
    tensorops::v1::Tensor::kDataFieldNumber};

struct LiftedMessage {
  // The message minus every occurrence of the lifted field, serialized.
  // Parsing it gives what parsing the whole message would, except that the
  // lifted field is empty.
  std::string rest;
  // The bytes of the field's last occurrence (the value protobuf keeps),
  // in place in the input; nullopt if the field did not occur.
  std::optional<ChunkedBytes> field;
};

// Lifts the bytes field at `path` out of `message`: field numbers from the
// outermost message down, each but the last naming a singular message field,
// e.g. {1, 3} for TopKRequest.input.data. Occurrences with another wire type
// stay in `rest`, where protobuf treats them as it always does.
//
// Returns nullopt when the walk does not fully understand the bytes
// (truncated or malformed wire data, field number 0, groups): the caller
// then parses the whole message with protobuf, which accepts or rejects it
// exactly as without lifting.
std::optional<LiftedMessage> LiftBytesField(const ChunkedBytes& message,
                                            absl::Span<const int> path);

}  // namespace tensorops::wire

#endif  // TENSOROPS_PROTO_LIFTED_FIELD_H_
