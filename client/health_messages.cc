#include "client/health_messages.h"

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "core/status_macros.h"

namespace tensorops::client {
namespace {

absl::StatusOr<uint64_t> ReadVarint(absl::string_view bytes, size_t& pos) {
  uint64_t value = 0;
  for (int shift = 0; shift < 64 && pos < bytes.size(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(bytes[pos++]);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  return absl::InternalError("malformed varint in HealthCheckResponse");
}

}  // namespace

std::string EncodeHealthCheckRequest(absl::string_view service) {
  std::string bytes;
  if (service.empty()) return bytes;  // proto3 omits default values
  bytes.push_back('\x0a');            // field 1, length-delimited
  for (size_t n = service.size(); true; n >>= 7) {
    if (n < 0x80) {
      bytes.push_back(static_cast<char>(n));
      break;
    }
    bytes.push_back(static_cast<char>((n & 0x7f) | 0x80));
  }
  bytes.append(service.data(), service.size());
  return bytes;
}

absl::StatusOr<ServingStatus> DecodeHealthCheckResponse(
    absl::string_view bytes) {
  uint64_t status = 0;
  size_t pos = 0;
  while (pos < bytes.size()) {
    TENSOROPS_ASSIGN_OR_RETURN(const uint64_t tag, ReadVarint(bytes, pos));
    switch (tag & 7) {
      case 0: {  // varint
        TENSOROPS_ASSIGN_OR_RETURN(const uint64_t value,
                                   ReadVarint(bytes, pos));
        if (tag >> 3 == 1) status = value;
        break;
      }
      case 2: {  // length-delimited: skip
        TENSOROPS_ASSIGN_OR_RETURN(const uint64_t size, ReadVarint(bytes, pos));
        if (size > bytes.size() - pos) {
          return absl::InternalError("truncated HealthCheckResponse");
        }
        pos += size;
        break;
      }
      default:
        return absl::InternalError(
            "unexpected wire type in HealthCheckResponse");
    }
  }
  if (status > 3) return ServingStatus::kUnknown;
  return static_cast<ServingStatus>(status);
}

}  // namespace tensorops::client
