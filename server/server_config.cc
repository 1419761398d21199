#include "server/server_config.h"

#include <climits>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/mapped_region.h"

namespace {

// The flags' defaults are the configuration's own (server_config.h).
const tensorops::server::ServerConfig& Defaults() {
  static const tensorops::server::ServerConfig* const defaults =
      new tensorops::server::ServerConfig();
  return *defaults;
}

using ::tensorops::server::BackendChoiceName;

}  // namespace

ABSL_FLAG(std::string, address, Defaults().address,
          "gRPC listen address, host:port (0.0.0.0:50051 for every "
          "interface; port 0 picks a free port).");
ABSL_FLAG(std::string, metrics_address, Defaults().metrics_address,
          "Where Prometheus metrics are served at /metrics, host:port; empty "
          "disables the endpoint.");
ABSL_FLAG(std::string, http_address, Defaults().http_address,
          "Where the Open Inference Protocol (KServe v2) is served over "
          "HTTP/REST, host:port (e.g. 0.0.0.0:8000); empty serves none. Its "
          "gRPC form is always on --address. TLS, client certificates and "
          "tokens follow the gRPC port's flags.");
ABSL_FLAG(int64_t, max_message_bytes, Defaults().max_message_bytes,
          "Largest request or response message in bytes (default 600 MiB: a "
          "512 MiB tensor plus room for the rest of the message). Results "
          "that would exceed it fail with RESOURCE_EXHAUSTED.");
ABSL_FLAG(absl::Duration, session_ttl, Defaults().session_ttl,
          "Sessions saved by TopK(save_for_backward) and unused for this long "
          "are freed, e.g. 30s, 10m, 1h.");
ABSL_FLAG(int64_t, session_cache_bytes, Defaults().session_cache_bytes,
          "Memory cap for saved sessions in bytes (default 1 GiB); the least "
          "recently used sessions are evicted to stay under it.");
ABSL_FLAG(int32_t, threads, Defaults().threads,
          "Compute threads; 0 means one per available core.");
ABSL_FLAG(absl::Duration, shutdown_timeout, Defaults().shutdown_timeout,
          "On SIGTERM or SIGINT, how long in-flight calls may take to finish "
          "before they are cancelled.");
ABSL_FLAG(absl::Duration, lame_duck, Defaults().lame_duck,
          "On SIGTERM or SIGINT, health turns NOT_SERVING and new calls get "
          "UNAVAILABLE ('shutting down') for at least this long, and until "
          "the calls in flight are done, before connections close (within "
          "--shutdown_timeout).");

ABSL_FLAG(std::string, backend,
          std::string(BackendChoiceName(Defaults().backend)),
          "Compute backend: cpu, cuda (fails to start without a usable GPU) "
          "or auto (cuda when built with CUDA and a GPU is present, else "
          "cpu; the choice and its reason are logged at start).");

ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain for TLS on the gRPC port (with --tls_key); "
          "empty serves plaintext. Metrics stay on plain HTTP: keep "
          "--metrics_address on a private interface.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates for mutual TLS: callers must present a "
          "certificate they signed, and own their sessions by its identity "
          "(needs --tls_cert).");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "File of accepted bearer tokens, one per line ('#' comments); calls "
          "without 'authorization: Bearer <token>' get UNAUTHENTICATED. "
          "Re-read within a second of a change. Health checks stay open. "
          "Empty disables token auth.");
ABSL_FLAG(int64_t, max_tensor_elements, Defaults().max_tensor_elements,
          "Most elements in any tensor a request carries or asks for "
          "(default 2^28); more fails with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_streamed_tensor_elements,
          Defaults().max_streamed_tensor_elements,
          "Most elements in any tensor a streamed call (TopKStream and the "
          "like) carries or asks for (default 2^34, 64 GiB of float32); "
          "checked from its request, before any chunk is accepted.");
ABSL_FLAG(int64_t, max_stream_buffer_bytes, Defaults().max_stream_buffer_bytes,
          "Most bytes a streamed call holds of a tensor it must keep whole "
          "(a TopK slice along a dim other than the last, Backward's "
          "gradient and indices; default 1 GiB).");
ABSL_FLAG(int64_t, max_inflight_requests, Defaults().max_inflight_requests,
          "Most TensorOps calls served at once; more fail with "
          "RESOURCE_EXHAUSTED (retry with backoff). Health checks do not "
          "count.");
ABSL_FLAG(int64_t, max_sessions_per_caller, Defaults().max_sessions_per_caller,
          "Most saved sessions one caller may hold (a caller is a bearer "
          "token, a client certificate identity, or every anonymous caller "
          "together); more fail with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, session_bytes_per_caller,
          Defaults().session_bytes_per_caller,
          "Most session bytes one caller may hold; a save beyond it evicts "
          "that caller's own least recently used sessions. 0: no fixed "
          "quota. Either way, when the cache is full only callers over their "
          "fair share (--session_cache_bytes / callers holding sessions) "
          "lose sessions.");
ABSL_FLAG(int64_t, max_inflight_response_bytes,
          Defaults().max_inflight_response_bytes,
          "Most response bytes held at once by calls not yet fully sent "
          "(default 2 GiB; at least --max_message_bytes). A call that would "
          "pass it fails with RESOURCE_EXHAUSTED before computing.");
ABSL_FLAG(absl::Duration, response_write_timeout,
          Defaults().response_write_timeout,
          "A response its client has not taken this long after it was ready "
          "is cancelled and its memory freed (counted in "
          "tensorops_response_write_timeouts_total).");
ABSL_FLAG(bool, log_requests, Defaults().log_requests,
          "Log a line for every finished call: method, status code, "
          "duration, request and response bytes, and the caller "
          "(\"anonymous\", a certificate's names, or token# and a hash: "
          "never a token).");
ABSL_FLAG(bool, allow_shared_memory, Defaults().allow_shared_memory,
          "Let callers on this host (unix socket or loopback) register "
          "shared memory regions and pass tensors through them "
          "(RegisterSharedMemory); off by default.");
ABSL_FLAG(std::string, shared_memory_file_dir,
          Defaults().shared_memory_file_dir,
          "An absolute directory below which callers may register regular "
          "files as shared memory (no symbolic links followed); empty: only "
          "POSIX shared memory keys.");
ABSL_FLAG(int64_t, max_shared_memory_regions_per_caller,
          Defaults().max_shared_memory_regions_per_caller,
          "Most shared memory regions one caller may hold.");
ABSL_FLAG(int64_t, max_shared_memory_bytes_per_caller,
          Defaults().max_shared_memory_bytes_per_caller,
          "Most bytes of shared memory regions one caller may hold "
          "(mapped, not allocated, by the server; default 64 GiB).");
ABSL_FLAG(absl::Duration, shared_memory_idle_timeout,
          Defaults().shared_memory_idle_timeout,
          "A caller that never opened a HoldSharedMemory call (the clients "
          "of this project open one) and makes no call for this long loses "
          "its shared memory regions.");
ABSL_FLAG(absl::Duration, shared_memory_release_grace,
          Defaults().shared_memory_release_grace,
          "A caller's shared memory regions are unmapped this long after its "
          "last HoldSharedMemory call ended (its client closed, or its "
          "connection is gone), unless it opens a new one first.");
ABSL_FLAG(absl::Duration, max_connection_idle, Defaults().max_connection_idle,
          "A client connection with no call for this long is closed "
          "gracefully (GOAWAY); 'inf' never.");
ABSL_FLAG(absl::Duration, max_connection_age, Defaults().max_connection_age,
          "A client connection older than this is closed gracefully (GOAWAY; "
          "clients reconnect, which spreads load after scaling); 'inf' "
          "never.");
ABSL_FLAG(absl::Duration, max_connection_age_grace,
          Defaults().max_connection_age_grace,
          "How long calls still running on a connection past "
          "--max_connection_age may take before it is closed; 'inf' waits "
          "for them.");

namespace tensorops::server {

absl::string_view BackendChoiceName(BackendChoice choice) {
  switch (choice) {
    case BackendChoice::kAuto:
      return "auto";
    case BackendChoice::kCpu:
      return "cpu";
    case BackendChoice::kCuda:
      return "cuda";
  }
  return "auto";
}

absl::Status ValidateServerConfig(const ServerConfig& config) {
  if (config.address.empty()) {
    return absl::InvalidArgumentError(
        "--address is empty; expected host:port, e.g. 127.0.0.1:50051");
  }
  // gRPC takes the limit as an int.
  if (config.max_message_bytes < 1024 || config.max_message_bytes > INT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_message_bytes is ", config.max_message_bytes,
                     "; expected a value in [1024, ", INT_MAX, "]"));
  }
  if (config.session_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--session_ttl is ", absl::FormatDuration(config.session_ttl),
        "; expected a positive duration such as 10m"));
  }
  if (config.session_cache_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--session_cache_bytes is ", config.session_cache_bytes,
                     "; expected a value >= 0 (0 refuses every session)"));
  }
  if (config.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads is ", config.threads,
                     "; expected 0 (one per core) or a positive count"));
  }
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key must be given together (TLS needs both "
        "the certificate chain and its private key)");
  }
  if (!config.tls_client_ca_file.empty() && config.tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca needs --tls_cert and --tls_key: mutual TLS is TLS "
        "with client certificates");
  }
  if (config.max_tensor_elements < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_tensor_elements is ", config.max_tensor_elements,
                     "; expected a positive count"));
  }
  if (config.max_streamed_tensor_elements < 1 ||
      config.max_stream_buffer_bytes < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_streamed_tensor_elements is ",
        config.max_streamed_tensor_elements, " and --max_stream_buffer_bytes ",
        config.max_stream_buffer_bytes, "; expected positive counts"));
  }
  if (config.max_inflight_requests < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_inflight_requests is ",
                     config.max_inflight_requests, "; expected at least 1"));
  }
  if (config.max_sessions_per_caller < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_sessions_per_caller is ", config.max_sessions_per_caller,
        "; expected at least 1 (use --session_cache_bytes=0 to refuse every "
        "session)"));
  }
  if (config.session_bytes_per_caller < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--session_bytes_per_caller is ", config.session_bytes_per_caller,
        "; expected 0 (no fixed quota) or a positive byte count"));
  }
  if (config.max_inflight_response_bytes < config.max_message_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_inflight_response_bytes is ",
                     config.max_inflight_response_bytes, "; expected at least ",
                     "--max_message_bytes (", config.max_message_bytes,
                     "), or no response of the largest size could be sent"));
  }
  if (config.response_write_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--response_write_timeout is ",
                     absl::FormatDuration(config.response_write_timeout),
                     "; expected a positive duration such as 10s"));
  }
  for (const auto& [flag, value] :
       {std::pair<const char*, absl::Duration>{"max_connection_idle",
                                               config.max_connection_idle},
        {"max_connection_age", config.max_connection_age},
        {"max_connection_age_grace", config.max_connection_age_grace}}) {
    if (value <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " is ", absl::FormatDuration(value),
                       "; expected a positive duration, or inf"));
    }
  }
  if (config.max_shared_memory_regions_per_caller < 1 ||
      config.max_shared_memory_regions_per_caller > MappedRegion::kMaxRegions) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_shared_memory_regions_per_caller is ",
                     config.max_shared_memory_regions_per_caller,
                     "; expected 1 to ", MappedRegion::kMaxRegions));
  }
  if (config.max_shared_memory_bytes_per_caller < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_shared_memory_bytes_per_caller is ",
        config.max_shared_memory_bytes_per_caller, "; expected at least 1"));
  }
  if (config.shared_memory_idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shared_memory_idle_timeout is ",
                     absl::FormatDuration(config.shared_memory_idle_timeout),
                     "; expected a positive duration such as 5m"));
  }
  if (config.shared_memory_release_grace <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shared_memory_release_grace is ",
                     absl::FormatDuration(config.shared_memory_release_grace),
                     "; expected a positive duration such as 30s"));
  }
  const std::string& dir = config.shared_memory_file_dir;
  if (!dir.empty() && (dir[0] != '/' || dir.back() == '/')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--shared_memory_file_dir is '", dir,
        "'; expected an absolute directory without a trailing '/'"));
  }
  if (config.lame_duck < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--lame_duck is ", absl::FormatDuration(config.lame_duck),
                     "; expected a duration >= 0"));
  }
  if (config.shutdown_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--shutdown_timeout is ", absl::FormatDuration(config.shutdown_timeout),
        "; expected a duration >= 0"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ServerConfig> ServerConfigFromFlags() {
  ServerConfig config;
  config.address = absl::GetFlag(FLAGS_address);
  config.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  config.http_address = absl::GetFlag(FLAGS_http_address);
  config.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  config.session_ttl = absl::GetFlag(FLAGS_session_ttl);
  config.session_cache_bytes = absl::GetFlag(FLAGS_session_cache_bytes);
  config.threads = absl::GetFlag(FLAGS_threads);
  config.shutdown_timeout = absl::GetFlag(FLAGS_shutdown_timeout);
  config.lame_duck = absl::GetFlag(FLAGS_lame_duck);
  config.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  config.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  config.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  config.auth_tokens_file = absl::GetFlag(FLAGS_auth_tokens_file);
  config.max_tensor_elements = absl::GetFlag(FLAGS_max_tensor_elements);
  config.max_streamed_tensor_elements =
      absl::GetFlag(FLAGS_max_streamed_tensor_elements);
  config.max_stream_buffer_bytes = absl::GetFlag(FLAGS_max_stream_buffer_bytes);
  config.max_inflight_requests = absl::GetFlag(FLAGS_max_inflight_requests);
  config.max_sessions_per_caller = absl::GetFlag(FLAGS_max_sessions_per_caller);
  config.session_bytes_per_caller =
      absl::GetFlag(FLAGS_session_bytes_per_caller);
  config.max_inflight_response_bytes =
      absl::GetFlag(FLAGS_max_inflight_response_bytes);
  config.response_write_timeout = absl::GetFlag(FLAGS_response_write_timeout);
  config.log_requests = absl::GetFlag(FLAGS_log_requests);
  config.allow_shared_memory = absl::GetFlag(FLAGS_allow_shared_memory);
  config.shared_memory_file_dir = absl::GetFlag(FLAGS_shared_memory_file_dir);
  config.max_shared_memory_regions_per_caller =
      absl::GetFlag(FLAGS_max_shared_memory_regions_per_caller);
  config.max_shared_memory_bytes_per_caller =
      absl::GetFlag(FLAGS_max_shared_memory_bytes_per_caller);
  config.shared_memory_idle_timeout =
      absl::GetFlag(FLAGS_shared_memory_idle_timeout);
  config.shared_memory_release_grace =
      absl::GetFlag(FLAGS_shared_memory_release_grace);
  config.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  config.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  config.max_connection_age_grace =
      absl::GetFlag(FLAGS_max_connection_age_grace);
  const std::string backend = absl::GetFlag(FLAGS_backend);
  if (backend == "auto") {
    config.backend = BackendChoice::kAuto;
  } else if (backend == "cpu") {
    config.backend = BackendChoice::kCpu;
  } else if (backend == "cuda") {
    config.backend = BackendChoice::kCuda;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--backend is '", backend, "'; expected cpu, cuda or auto"));
  }
  if (absl::Status status = ValidateServerConfig(config); !status.ok()) {
    return status;
  }
  return config;
}

}  // namespace tensorops::server
