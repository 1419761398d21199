// Who is calling: bearer-token authentication and the identity that owns a
// caller's sessions.
#ifndef TENSOROPS_SERVER_CALLER_IDENTITY_H_
#define TENSOROPS_SERVER_CALLER_IDENTITY_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
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

// The identity of a verified client certificate: its subject alternative
// names (DNS, URI, email, IP), each as "<type>:<length>:<name>;", grouped
// by type, or "cn:<length>:<common name>;" when it has none.
// Two certificates get the same identity only if they carry the same names
// of the same types (one SAN "DNS:alice,bob" is not the two SANs "alice"
// and "bob"). UNAUTHENTICATED for a certificate with neither.
absl::StatusOr<std::string> CertificateIdentity(const grpc::AuthContext& auth);

// The owner string of the caller's sessions: "token:<token>" with bearer
// auth, else "x509:" + CertificateIdentity under mutual TLS, else ""
// (anonymous: every caller alike). UNAUTHENTICATED when `policy.tokens` is
// set and the call carries no token it accepts (the message says what was
// expected, never the token), or under mutual TLS for a certificate that
// names no identity.
absl::StatusOr<std::string> IdentifyCaller(
    const grpc::ServerContextBase& context, const CallerPolicy& policy);

// IdentifyCaller for the HTTP front: the request's authorization header
// values, and the subject of its verified client certificate under mutual
// TLS (empty when there is none). The same token owns the same sessions
// over either transport; a certificate's owner is "x509:subject:" and its
// subject line (HTTP sees no SANs).
absl::StatusOr<std::string> IdentifyHttpCaller(
    absl::Span<const absl::string_view> authorization,
    absl::string_view certificate_subject, const CallerPolicy& policy);

// An owner string as logs show it, never a token: "anonymous", "token#"
// and 8 hex digits of the token's FNV-1a hash (the same token, the same
// digits, in every process), or the "x509:" identity as it is.
std::string CallerForLog(absl::string_view owner);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_CALLER_IDENTITY_H_
