#include "server/inference_http.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "core/status_macros.h"
#include "proto/service_methods.h"
#include "request/inference_json.h"
#include "request/inference_request.h"
#include "server/inference_service.h"
#include "server/inflight_call.h"
#include "server/tensor_ops_service.h"

namespace tensorops::server {
namespace {

// The model routes: /v2/models/{name}, optionally /versions/{version}.
constexpr char kModelRoute[] = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

void ReplyJson(httplib::Response& response, int status, std::string body) {
  response.status = status;
  response.set_content(std::move(body), "application/json");
}

void ReplyError(httplib::Response& response, const absl::Status& status) {
  ReplyJson(response, HttpStatusOf(status.code()),
            request::ErrorToJson(status.message()));
}

// The subject line of the request's verified client certificate; empty
// without one.
std::string CertificateSubject(const httplib::Request& request) {
  if (request.ssl == nullptr) return "";
  X509* certificate = SSL_get1_peer_certificate(request.ssl);
  if (certificate == nullptr) return "";
  char subject[512] = {};
  X509_NAME_oneline(X509_get_subject_name(certificate), subject,
                    sizeof(subject));
  X509_free(certificate);
  return subject;
}

}  // namespace

InferenceHttpServer::InferenceHttpServer(InferenceHttpOptions options,
                                         InferenceRunner& runner)
    : options_(std::move(options)), runner_(runner) {}

absl::StatusOr<std::unique_ptr<InferenceHttpServer>> InferenceHttpServer::Start(
    InferenceHttpOptions options, InferenceRunner& runner) {
  const std::string address = options.address;  // options move below
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(absl::string_view(address).substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http_address is \"", address,
                     "\"; expected host:port, like 0.0.0.0:8000"));
  }
  absl::string_view host = absl::string_view(address).substr(0, colon);
  absl::ConsumePrefix(&host, "[");
  absl::ConsumeSuffix(&host, "]");
  std::unique_ptr<InferenceHttpServer> server(
      new InferenceHttpServer(std::move(options), runner));
  const InferenceHttpOptions& config = server->options_;
  if (!config.tls_cert_file.empty()) {
    auto tls = std::make_unique<httplib::SSLServer>(
        config.tls_cert_file.c_str(), config.tls_key_file.c_str(),
        config.tls_client_ca_file.empty() ? nullptr
                                          : config.tls_client_ca_file.c_str());
    if (!tls->is_valid()) {
      return absl::InvalidArgumentError(
          "the HTTP front cannot load --tls_cert, --tls_key or "
          "--tls_client_ca");
    }
    server->http_ = std::move(tls);
  } else {
    server->http_ = std::make_unique<httplib::Server>();
  }
  server->http_->set_payload_max_length(
      static_cast<size_t>(config.max_body_bytes));
  server->AddRoutes();
  const std::string host_name(host);
  server->port_ =
      port == 0 ? server->http_->bind_to_any_port(host_name)
                : (server->http_->bind_to_port(host_name, port) ? port : -1);
  if (server->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", address, " (--http_address)"));
  }
  httplib::Server* http = server->http_.get();
  server->listener_ = std::thread([http] { http->listen_after_bind(); });
  // stop() before the loop has started would be lost (and the destructor's
  // join would wait forever): return once it runs.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!http->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return server;
}

InferenceHttpServer::~InferenceHttpServer() {
  if (http_ != nullptr) http_->stop();
  if (listener_.joinable()) listener_.join();
}

void InferenceHttpServer::AddRoutes() {
  const auto draining = [this] {
    return options_.draining != nullptr && options_.draining();
  };
  http_->Get("/v2/health/live",
             [](const httplib::Request&, httplib::Response& response) {
               ReplyJson(response, 200, R"({"live":true})");
             });
  http_->Get("/v2/health/ready", [draining](const httplib::Request&,
                                            httplib::Response& response) {
    ReplyJson(response, draining() ? 503 : 200,
              draining() ? R"({"ready":false})" : R"({"ready":true})");
  });
  http_->Get(
      "/v2", [this](const httplib::Request&, httplib::Response& response) {
        inference::ServerMetadataResponse metadata;
        metadata.set_name("tensorops");
        metadata.set_version(options_.version);
        ReplyJson(response, 200, request::ServerMetadataToJson(metadata));
      });
  http_->Get(kModelRoute, [](const httplib::Request& request,
                             httplib::Response& response) {
    absl::StatusOr<const request::InferenceModel*> model =
        FindServedModel(request.matches[1].str(), request.matches[2].str());
    if (!model.ok()) return ReplyError(response, model.status());
    ReplyJson(response, 200,
              request::ModelMetadataToJson(request::ModelMetadataOf(**model)));
  });
  http_->Get(
      absl::StrCat(kModelRoute, "/ready"),
      [draining](const httplib::Request& request, httplib::Response& response) {
        absl::StatusOr<const request::InferenceModel*> model =
            FindServedModel(request.matches[1].str(), request.matches[2].str());
        if (!model.ok()) return ReplyError(response, model.status());
        ReplyJson(response, draining() ? 503 : 200,
                  absl::StrCat(R"({"name":")", (*model)->name, R"(","ready":)",
                               draining() ? "false" : "true", "}"));
      });
  http_->Post(absl::StrCat(kModelRoute, "/infer"),
              [this, draining](const httplib::Request& request,
                               httplib::Response& response) {
                if (draining())
                  return ReplyError(response,
                                    TensorOpsService::DrainingError());
                Infer(request, response);
              });
  // Unknown routes and refused bodies (413) get a JSON message too.
  http_->set_error_handler(
      [](const httplib::Request& request, httplib::Response& response) {
        if (!response.body.empty()) return;
        const std::string message =
            response.status == 413
                ? "the request body is larger than this server takes "
                  "(--max_message_bytes)"
                : absl::StrCat("no route ", request.method, " ", request.path,
                               "; the routes are /v2, /v2/health/{live,ready}, "
                               "/v2/models/{model}[/ready|/infer]");
        response.set_content(request::ErrorToJson(message), "application/json");
      });
}

void InferenceHttpServer::Infer(const httplib::Request& request,
                                httplib::Response& response) {
  const auto arrival = std::chrono::steady_clock::now();
  if (options_.metrics != nullptr) options_.metrics->RequestStarted();
  std::string caller;
  const absl::Status status = InferStatus(request, response, caller);
  if (!status.ok()) ReplyError(response, status);
  CallLedger ledger;
  ledger.metrics = options_.metrics;
  ledger.log_requests = options_.log_requests;
  RecordFinishedCall(
      ledger,
      {.method = wire::ModelInferMethod(),
       .code = static_cast<grpc::StatusCode>(status.code()),
       .duration = absl::FromChrono(std::chrono::steady_clock::now() - arrival),
       .request_bytes = static_cast<int64_t>(request.body.size()),
       .response_bytes =
           status.ok() ? static_cast<int64_t>(response.body.size()) : 0,
       .caller = caller});
}

absl::Status InferenceHttpServer::InferStatus(const httplib::Request& request,
                                              httplib::Response& response,
                                              std::string& caller) {
  std::vector<absl::string_view> authorization;
  const auto [begin, end] = request.headers.equal_range("Authorization");
  for (auto it = begin; it != end; ++it) authorization.push_back(it->second);
  TENSOROPS_ASSIGN_OR_RETURN(
      caller, IdentifyHttpCaller(authorization, CertificateSubject(request),
                                 options_.callers));
  TENSOROPS_ASSIGN_OR_RETURN(
      inference::ModelInferRequest message,
      request::InferRequestFromJson(request.body, request.matches[1].str(),
                                    request.matches[2].str(),
                                    options_.max_request_elements));
  TENSOROPS_ASSIGN_OR_RETURN(request::InferCall call,
                             request::TranslateInferRequest(message));
  // The response is handed to the connection here; a session saved by this
  // call is kept, and one it uses consumed, unless it fails.
  CallOutcome outcome;
  bool delivered = false;
  absl::Cleanup conclude = [&] { outcome.Conclude(delivered); };
  TENSOROPS_ASSIGN_OR_RETURN(
      InferenceWork work, runner_.Prepare(call, message.id(), caller, outcome));
  TENSOROPS_ASSIGN_OR_RETURN(inference::ModelInferResponse result,
                             std::move(work.run)());
  ReplyJson(response, 200, request::InferResponseToJson(result));
  delivered = true;
  return absl::OkStatus();
}

}  // namespace tensorops::server
