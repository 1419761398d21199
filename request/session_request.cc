#include "request/session_request.h"

namespace tensorops::request {

absl::Status ValidateReleaseSession(
    const tensorops::v1::ReleaseSessionRequest& request) {
  if (request.session_id().empty()) {
    return absl::InvalidArgumentError(
        "session_id is empty; expected an id returned by TopK with "
        "save_for_backward");
  }
  return absl::OkStatus();
}

}  // namespace tensorops::request
