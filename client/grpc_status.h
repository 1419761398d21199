// The one place where the client turns grpc::Status into absl::Status.
#ifndef TENSOROPS_CLIENT_GRPC_STATUS_H_
#define TENSOROPS_CLIENT_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tensorops::client {

// Same code (gRPC and Abseil share the canonical codes) and the server's
// message, unchanged.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_GRPC_STATUS_H_
