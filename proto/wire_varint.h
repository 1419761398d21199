// Protobuf base-128 varints, for code that writes wire data by hand.
#ifndef TENSOROPS_PROTO_WIRE_VARINT_H_
#define TENSOROPS_PROTO_WIRE_VARINT_H_

#include <cstdint>
#include <string>

namespace tensorops::wire {

inline void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// The tag of a length-delimited field (wire type 2).
inline uint64_t LengthDelimitedTag(int field_number) {
  return (static_cast<uint64_t>(field_number) << 3) | 2;
}

}  // namespace tensorops::wire

#endif  // TENSOROPS_PROTO_WIRE_VARINT_H_
