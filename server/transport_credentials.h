// The gRPC port's credentials: plaintext, TLS, or mutual TLS.
#ifndef TENSOROPS_SERVER_TRANSPORT_CREDENTIALS_H_
#define TENSOROPS_SERVER_TRANSPORT_CREDENTIALS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/server_config.h"

namespace tensorops::server {

// Reads and checks the PEM files of --tls_cert, --tls_key and --tls_client_ca
// (each parses; the key belongs to the certificate) so that a bad file stops
// the server at start with INVALID_ARGUMENT naming the flag, rather than
// failing every handshake later. Plaintext when no certificate is given.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerConfig& config);

// The contents of a file, INVALID_ARGUMENT naming `flag` when unreadable.
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        absl::string_view flag);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_TRANSPORT_CREDENTIALS_H_
