// The Open Inference Protocol over HTTP/REST (--http_address): the
// protocol's routes on cpp-httplib, with JSON bodies converted to the gRPC
// messages (request/inference_json.h) and run by the same InferenceRunner,
// so REST and gRPC give the same results, errors and sessions.
//
//   GET  /v2/health/live                  {"live": true}
//   GET  /v2/health/ready                 {"ready": true}; 503 once draining
//   GET  /v2                              server metadata
//   GET  /v2/models/{m}[/versions/1]      model metadata
//   GET  /v2/models/{m}[/versions/1]/ready
//   POST /v2/models/{m}[/versions/1]/infer
//
// Errors answer {"error": message} with 400 (bad request), 401 (no or a
// wrong token), 404 (unknown model, route or session), 409 (a session
// already consumed), 413 (body over --max_message_bytes), 429 (a limit),
// 503 (draining). TLS and client certificates follow the gRPC port's
// flags, bearer tokens too (Authorization: Bearer <token>).
#ifndef TENSOROPS_SERVER_INFERENCE_HTTP_H_
#define TENSOROPS_SERVER_INFERENCE_HTTP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/caller_identity.h"
#include "server/inference_runner.h"
#include "server/metrics.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace tensorops::server {

struct InferenceHttpOptions {
  std::string address;  // host:port; port 0 picks a free one
  // PEM files; empty serves plain HTTP. A client CA asks for and verifies
  // client certificates.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  CallerPolicy callers;
  int64_t max_body_bytes = int64_t{64} << 20;
  // JSON values taken in one request (each becomes an element).
  int64_t max_request_elements = int64_t{1} << 24;
  std::string version;
  // Whether the server drains (then /ready and /infer answer 503).
  std::function<bool()> draining;
  // Each infer call is counted as method="ModelInfer" (may be null), and
  // logged with --log_requests, as the gRPC calls are.
  Metrics* metrics = nullptr;
  bool log_requests = false;
};

class InferenceHttpServer {
 public:
  // Listens and serves on a thread of its own. UNAVAILABLE if the address
  // cannot be bound, INVALID_ARGUMENT for a malformed address or TLS files
  // that do not load.
  static absl::StatusOr<std::unique_ptr<InferenceHttpServer>> Start(
      InferenceHttpOptions options, InferenceRunner& runner);
  // Stops listening and waits for the requests being served.
  ~InferenceHttpServer();

  int port() const { return port_; }

 private:
  InferenceHttpServer(InferenceHttpOptions options, InferenceRunner& runner);
  void AddRoutes();
  // POST .../infer.
  void Infer(const httplib::Request& request, httplib::Response& response);
  // Infer's outcome, as the response carries it.
  absl::Status InferStatus(const httplib::Request& request,
                           httplib::Response& response, std::string& caller);

  const InferenceHttpOptions options_;
  InferenceRunner& runner_;
  std::unique_ptr<httplib::Server> http_;
  std::thread listener_;
  int port_ = 0;
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_INFERENCE_HTTP_H_
