#include "proto/lifted_field.h"

#include <climits>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "proto/wire_varint.h"

namespace tensorops::wire {

static_assert(
    static_cast<int>(tensorops::v1::ZerosLikeRequest::kInputFieldNumber) ==
        kInputDataPath[0] &&
    static_cast<int>(tensorops::v1::OnesLikeRequest::kInputFieldNumber) ==
        kInputDataPath[0]);

namespace {

// Protobuf wire types.
constexpr int kVarint = 0;
constexpr int kFixed64 = 1;
constexpr int kLengthDelimited = 2;
constexpr int kFixed32 = 5;

// Tags and lengths are re-encoded when the walk rewrites a message field, so
// it declines any that protobuf would reject (over 5 bytes or 2^31), rather
// than turn them into valid ones.
constexpr int kMaxTagOrLengthBytes = 5;

// Reads wire data from [offset, end) of a ChunkedBytes, moving forward.
class WireReader {
 public:
  WireReader(const ChunkedBytes& bytes, size_t offset, size_t end)
      : bytes_(bytes), reader_(bytes), offset_(offset), end_(end) {}

  size_t offset() const { return offset_; }
  bool done() const { return offset_ >= end_; }

  // A varint of at most `max_bytes` bytes (protobuf reads tags and lengths
  // as 32-bit varints of at most 5 bytes and rejects longer ones).
  bool ReadVarint(uint64_t* value, int max_bytes = 10) {
    *value = 0;
    for (int shift = 0; shift < 7 * max_bytes; shift += 7) {
      if (offset_ >= end_) return false;
      std::byte scratch;
      const uint8_t byte =
          static_cast<uint8_t>(*reader_.Read(offset_++, 1, &scratch));
      if (shift < 64) *value |= uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80u) == 0) return true;
    }
    return false;  // longer than max_bytes
  }

  bool Skip(uint64_t length) {
    if (length > end_ - offset_) return false;
    offset_ += length;
    return true;
  }

  // Appends bytes [from, offset()) to `out`.
  void CopySince(size_t from, std::string* out) const {
    const size_t length = offset_ - from;
    const size_t at = out->size();
    out->resize(at + length);
    bytes_.CopyTo(from, length, reinterpret_cast<std::byte*>(out->data() + at));
  }

 private:
  const ChunkedBytes& bytes_;
  ChunkedBytes::Reader reader_;
  size_t offset_;
  const size_t end_;
};

// A path still to walk: the field numbers left, and which of the caller's
// paths it is (its slot in LiftedMessage::fields).
struct PathLeft {
  FieldPath numbers;
  size_t slot;
};

// Walks the message in [offset, end), appending all but the lifted fields to
// `rest`. false if the wire data is not understood.
bool Walk(const ChunkedBytes& bytes, size_t offset, size_t end,
          absl::Span<const PathLeft> paths, std::string* rest,
          std::vector<std::optional<ChunkedBytes>>* fields) {
  WireReader reader(bytes, offset, end);
  while (!reader.done()) {
    const size_t field_start = reader.offset();
    uint64_t tag = 0;
    if (!reader.ReadVarint(&tag, kMaxTagOrLengthBytes)) return false;
    const uint64_t number = tag >> 3;
    const int wire_type = static_cast<int>(tag & 7);
    if (number == 0 || number > (uint64_t{1} << 29) - 1) return false;
    uint64_t value = 0;
    switch (wire_type) {
      case kVarint:
        if (!reader.ReadVarint(&value)) return false;
        break;
      case kFixed64:
        if (!reader.Skip(8)) return false;
        break;
      case kFixed32:
        if (!reader.Skip(4)) return false;
        break;
      case kLengthDelimited: {
        if (!reader.ReadVarint(&value, kMaxTagOrLengthBytes) ||
            value > static_cast<uint64_t>(INT32_MAX)) {
          return false;
        }
        const size_t payload = reader.offset();
        if (!reader.Skip(value)) return false;
        // The paths through this field: one ends here (paths are distinct
        // leaves, so then no other goes on), or some go on inside.
        std::vector<PathLeft> inside;
        bool lifted_here = false;
        for (const PathLeft& path : paths) {
          if (static_cast<uint64_t>(path.numbers.front()) != number) continue;
          if (path.numbers.size() == 1) {
            (*fields)[path.slot] = bytes.Subrange(payload, value);
            lifted_here = true;
          } else {
            inside.push_back({path.numbers.subspan(1), path.slot});
          }
        }
        if (lifted_here) continue;  // not copied as it arrived
        if (inside.empty()) break;
        std::string inner;
        if (!Walk(bytes, payload, payload + value, inside, &inner, fields)) {
          return false;
        }
        AppendVarint(tag, rest);
        AppendVarint(inner.size(), rest);
        rest->append(inner);
        continue;  // re-serialized without the lifted fields
      }
      default:
        return false;  // groups (3, 4) and invalid wire types
    }
    reader.CopySince(field_start, rest);
  }
  return true;
}

// Whether every path is non-empty and none a prefix of another.
bool PathsAreDistinctLeaves(absl::Span<const FieldPath> paths) {
  for (size_t a = 0; a < paths.size(); ++a) {
    if (paths[a].empty()) return false;
    for (size_t b = 0; b < paths.size(); ++b) {
      if (a != b && paths[a].size() <= paths[b].size() &&
          paths[a] == paths[b].subspan(0, paths[a].size())) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

std::optional<LiftedMessage> LiftBytesFields(
    const ChunkedBytes& message, absl::Span<const FieldPath> paths) {
  if (paths.empty() || !PathsAreDistinctLeaves(paths)) return std::nullopt;
  std::vector<PathLeft> walk;
  walk.reserve(paths.size());
  for (size_t slot = 0; slot < paths.size(); ++slot) {
    walk.push_back({paths[slot], slot});
  }
  LiftedMessage lifted;
  lifted.fields.resize(paths.size());
  if (!Walk(message, 0, message.size(), walk, &lifted.rest, &lifted.fields)) {
    return std::nullopt;
  }
  return lifted;
}

}  // namespace tensorops::wire
