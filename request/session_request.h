// ReleaseSession requests.
#ifndef TENSOROPS_REQUEST_SESSION_REQUEST_H_
#define TENSOROPS_REQUEST_SESSION_REQUEST_H_

#include "absl/status/status.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::request {

// INVALID_ARGUMENT for an empty session_id.
absl::Status ValidateReleaseSession(
    const tensorops::v1::ReleaseSessionRequest& request);

}  // namespace tensorops::request

#endif  // TENSOROPS_REQUEST_SESSION_REQUEST_H_
