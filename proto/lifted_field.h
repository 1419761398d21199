// Parsing a large request without copying its payload.
//
// Protobuf parses a `bytes` field by copying it into a fresh std::string. For
// a 131 MB tensor that copy (and the page faults of its fresh memory) costs
// more than receiving the message and computing topk together. LiftBytesFields
// walks the serialized message, leaves the named bytes fields where they
// arrived and returns everything else re-serialized without them: small, for
// protobuf to parse as usual, so every other field keeps protobuf's exact
// semantics.
#ifndef TENSOROPS_PROTO_LIFTED_FIELD_H_
#define TENSOROPS_PROTO_LIFTED_FIELD_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "core/chunked_tensor.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::wire {

// A bytes field inside a message: field numbers from the outermost message
// down, each but the last naming a singular message field, e.g. {1, 3} for
// TopKRequest.input.data.
using FieldPath = absl::Span<const int>;

// input.data of ZerosLike-, OnesLike- and TopKRequest: the payload of a large
// request (all three hold their input tensor in the same field).
inline constexpr int kInputDataPath[] = {
    tensorops::v1::TopKRequest::kInputFieldNumber,
    tensorops::v1::Tensor::kDataFieldNumber};

// grad_values.data and indices.data of BackwardRequest: its two payloads
// (as large as the selection's values, e.g. a whole Sort's).
inline constexpr int kGradValuesDataPath[] = {
    tensorops::v1::BackwardRequest::kGradValuesFieldNumber,
    tensorops::v1::Tensor::kDataFieldNumber};
inline constexpr int kIndicesDataPath[] = {
    tensorops::v1::BackwardRequest::kIndicesFieldNumber,
    tensorops::v1::Tensor::kDataFieldNumber};

struct LiftedMessage {
  // The message minus every occurrence of the lifted fields, serialized.
  // Parsing it gives what parsing the whole message would, except that the
  // lifted fields are empty.
  std::string rest;
  // fields[i]: the bytes of paths[i]'s last occurrence (the value protobuf
  // keeps), in place in the input; nullopt if that field did not occur.
  std::vector<std::optional<ChunkedBytes>> fields;
};

// Lifts the bytes fields at `paths` out of `message`. Each path must be
// non-empty and none a prefix of another. Occurrences with another wire type
// stay in `rest`, where protobuf treats them as it always does.
//
// Returns nullopt when the walk does not fully understand the bytes
// (truncated or malformed wire data, field number 0, groups) or `paths`
// breaks the rule above: the caller then parses the whole message with
// protobuf, which accepts or rejects it exactly as without lifting.
std::optional<LiftedMessage> LiftBytesFields(const ChunkedBytes& message,
                                             absl::Span<const FieldPath> paths);

}  // namespace tensorops::wire

#endif  // TENSOROPS_PROTO_LIFTED_FIELD_H_
