// The grpc.health.v1 Check messages, encoded by hand: Debian ships no
// generated C++ code for them, and each is a single field.
#ifndef TENSOROPS_CLIENT_HEALTH_MESSAGES_H_
#define TENSOROPS_CLIENT_HEALTH_MESSAGES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/tensor_ops_client.h"

namespace tensorops::client {

// HealthCheckRequest { string service = 1; }
std::string EncodeHealthCheckRequest(absl::string_view service);

// HealthCheckResponse { ServingStatus status = 1; }: statuses this client
// does not know are kUnknown; INTERNAL for bytes that do not parse.
absl::StatusOr<ServingStatus> DecodeHealthCheckResponse(
    absl::string_view bytes);

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_HEALTH_MESSAGES_H_
