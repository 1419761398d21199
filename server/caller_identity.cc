#include "server/caller_identity.h"

#include <grpc/grpc_security_constants.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

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
// The token of the call's authorization header values.
absl::StatusOr<absl::string_view> BearerTokenOf(
    absl::Span<const absl::string_view> authorization) {
  if (authorization.empty()) {
    return Unauthenticated("the call carries no credentials");
  }
  if (authorization.size() > 1) {
    return Unauthenticated("the call carries several authorization headers");
  }
  const absl::string_view value = authorization[0];
  if (value.size() <= kBearerScheme.size() ||
      !absl::StartsWithIgnoreCase(value, kBearerScheme)) {
    return Unauthenticated("the authorization header is not a bearer token");
  }
  return absl::StripAsciiWhitespace(value.substr(kBearerScheme.size()));
}

// The owner string of a token the policy accepts.
absl::StatusOr<std::string> TokenOwner(
    absl::Span<const absl::string_view> authorization, BearerTokens& tokens) {
  absl::StatusOr<absl::string_view> token = BearerTokenOf(authorization);
  if (!token.ok()) return token.status();
  if (!tokens.Accepts(*token)) {
    return Unauthenticated("the bearer token is not accepted");
  }
  return absl::StrCat("token:", *token);
}

// One name of the identity: its type, its length and the name itself, so
// that no name (whatever characters it holds) can pass for several or for
// one of another type.
void AppendName(absl::string_view type, absl::string_view name,
                std::string& out) {
  absl::StrAppend(&out, type, ":", name.size(), ":", name, ";");
}

}  // namespace

absl::StatusOr<std::string> CertificateIdentity(const grpc::AuthContext& auth) {
  // The subject alternative names grouped by type, each type in the
  // certificate's order (gRPC reads DNS, URI, email and IP names); the
  // common name only when there is none, as RFC 6125 says.
  static constexpr std::pair<const char*, const char*> kSanProperties[] = {
      {GRPC_PEER_DNS_PROPERTY_NAME, "dns"},
      {GRPC_PEER_URI_PROPERTY_NAME, "uri"},
      {GRPC_PEER_EMAIL_PROPERTY_NAME, "email"},
      {GRPC_PEER_IP_PROPERTY_NAME, "ip"},
  };
  std::string identity;
  for (const auto& [property, type] : kSanProperties) {
    for (const grpc::string_ref& name : auth.FindPropertyValues(property)) {
      if (name.empty()) continue;
      AppendName(type, absl::string_view(name.data(), name.size()), identity);
    }
  }
  if (identity.empty()) {
    for (const grpc::string_ref& name :
         auth.FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
      if (name.empty()) continue;
      AppendName("cn", absl::string_view(name.data(), name.size()), identity);
    }
  }
  // The TLS handshake already required a verified certificate; one
  // without a name cannot own sessions apart from others.
  if (identity.empty()) {
    return absl::UnauthenticatedError(
        "the client certificate names no identity (no DNS, URI, email or IP "
        "subject alternative name and no common name), so its sessions "
        "could not be kept apart from other callers'; expected a client "
        "certificate with a subject alternative name or a common name");
  }
  return identity;
}

absl::StatusOr<std::string> IdentifyCaller(
    const grpc::ServerContextBase& context, const CallerPolicy& policy) {
  if (policy.tokens != nullptr) {
    std::vector<absl::string_view> authorization;
    const auto [begin, end] = context.client_metadata().equal_range(
        grpc::string_ref(kAuthorizationMetadataKey.data(),
                         kAuthorizationMetadataKey.size()));
    for (auto it = begin; it != end; ++it) {
      authorization.emplace_back(it->second.data(), it->second.size());
    }
    return TokenOwner(authorization, *policy.tokens);
  }
  if (policy.client_certificates) {
    const std::shared_ptr<const grpc::AuthContext> auth =
        context.auth_context();
    absl::StatusOr<std::string> identity =
        auth == nullptr
            ? absl::UnauthenticatedError(
                  "the call has no TLS peer; expected a client certificate")
            : CertificateIdentity(*auth);
    if (!identity.ok()) return identity.status();
    return absl::StrCat("x509:", *identity);
  }
  return std::string();
}

std::string CallerForLog(absl::string_view owner) {
  if (owner.empty()) return "anonymous";
  absl::string_view token = owner;
  if (!absl::ConsumePrefix(&token, "token:")) return std::string(owner);
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a, 64-bit
  for (const char c : token) {
    hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  }
  return absl::StrFormat("token#%08x", static_cast<uint32_t>(hash >> 32));
}

absl::StatusOr<std::string> IdentifyHttpCaller(
    absl::Span<const absl::string_view> authorization,
    absl::string_view certificate_subject, const CallerPolicy& policy) {
  if (policy.tokens != nullptr)
    return TokenOwner(authorization, *policy.tokens);
  if (policy.client_certificates) {
    if (certificate_subject.empty()) {
      return Unauthenticated(
          "the request has no verified client certificate; expected one");
    }
    return absl::StrCat("x509:subject:", certificate_subject);
  }
  return std::string();
}

}  // namespace tensorops::server
