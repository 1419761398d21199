// The one place where absl::Status becomes grpc::Status.
#ifndef TENSOROPS_SERVER_STATUS_MAPPING_H_
#define TENSOROPS_SERVER_STATUS_MAPPING_H_

#include <grpcpp/support/status.h>

#include <cstddef>

#include "absl/status/status.h"

namespace tensorops::server {

// The longest message a status carries to the client.
inline constexpr size_t kMaxStatusMessageBytes = 1024;

// Same code (the two enums share the canonical codes) and message, the
// message cut to kMaxStatusMessageBytes (ending "... (message truncated)").
grpc::Status ToGrpcStatus(const absl::Status& status);

// The canonical name of a code, e.g. "INVALID_ARGUMENT", as used in metrics
// labels.
const char* StatusCodeName(grpc::StatusCode code);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_STATUS_MAPPING_H_
