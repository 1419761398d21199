// Who is calling: bearer-token authentication and the identity that owns a
// caller's sessions.
#ifndef TENSOROPS_SERVER_CALLER_IDENTITY_H_
#define TENSOROPS_SERVER_CALLER_IDENTITY_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/bearer_tokens.h"

namespace tensorops::server {

// Callers send `authorization: Bearer <token>` (the HTTP/gRPC convention).
inline constexpr absl::string_view kAuthorizationMetadataKey = "authorization";

struct CallerPolicy {
  // Tokens a call must carry one of; null accepts every caller.
  BearerTokens* tokens = nullptr;
  // Whether callers present verified client certificates (mutual TLS).
  bool client_certificates = false;
};

// The owner string of the caller's sessions: "token:<token>" with bearer
// auth, else "x509:<certificate identity>" (subject alternative names, or the
// common name) under mutual TLS, else "" (anonymous: every caller alike).
// UNAUTHENTICATED when `policy.tokens` is set and the call carries no token
// it accepts; the message says what was expected, never the token.
absl::StatusOr<std::string> IdentifyCaller(
    const grpc::ServerContextBase& context, const CallerPolicy& policy);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_CALLER_IDENTITY_H_
