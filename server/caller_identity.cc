#include "server/caller_identity.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tensorops::server {
namespace {

constexpr absl::string_view kBearerScheme = "Bearer ";

absl::Status Unauthenticated(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat(
      why,
      "; expected the metadata 'authorization: Bearer <token>' with a token "
      "listed in this server's --auth_tokens_file"));
}

// The token of the single `authorization: Bearer` header.
absl::StatusOr<absl::string_view> BearerToken(
    const grpc::ServerContextBase& context) {
  const auto [begin, end] =
      context.client_metadata().equal_range(grpc::string_ref(
          kAuthorizationMetadataKey.data(), kAuthorizationMetadataKey.size()));
  if (begin == end) return Unauthenticated("the call carries no credentials");
  if (std::next(begin) != end) {
    return Unauthenticated("the call carries several authorization headers");
  }
  const absl::string_view value(begin->second.data(), begin->second.size());
  if (value.size() <= kBearerScheme.size() ||
      !absl::StartsWithIgnoreCase(value, kBearerScheme)) {
    return Unauthenticated("the authorization header is not a bearer token");
  }
  return absl::StripAsciiWhitespace(value.substr(kBearerScheme.size()));
}

}  // namespace

absl::StatusOr<std::string> IdentifyCaller(
    const grpc::ServerContextBase& context, const CallerPolicy& policy) {
  if (policy.tokens != nullptr) {
    absl::StatusOr<absl::string_view> token = BearerToken(context);
    if (!token.ok()) return token.status();
    if (!policy.tokens->Accepts(*token)) {
      return Unauthenticated("the bearer token is not accepted");
    }
    return absl::StrCat("token:", *token);
  }
  if (policy.client_certificates) {
    const std::shared_ptr<const grpc::AuthContext> auth =
        context.auth_context();
    std::vector<absl::string_view> names;
    if (auth != nullptr) {
      for (const grpc::string_ref& name : auth->GetPeerIdentity()) {
        names.emplace_back(name.data(), name.size());
      }
    }
    // The TLS handshake already required a verified certificate; one
    // without a name cannot own sessions apart from others.
    if (names.empty()) {
      return absl::UnauthenticatedError(
          "the client certificate names no identity; expected a certificate "
          "with a subject alternative name or common name");
    }
    return absl::StrCat("x509:", absl::StrJoin(names, ","));
  }
  return std::string();
}

}  // namespace tensorops::server
