// The one place where absl::Status becomes grpc::Status.
#ifndef TENSOROPS_SERVER_STATUS_MAPPING_H_
#define TENSOROPS_SERVER_STATUS_MAPPING_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tensorops::server {

// Same code (the two enums share the canonical codes) and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The canonical name of a code, e.g. "INVALID_ARGUMENT", as used in metrics
// labels.
const char* StatusCodeName(grpc::StatusCode code);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_STATUS_MAPPING_H_
