// The server's settings and the command-line flags that set them.
#ifndef TENSOROPS_SERVER_SERVER_CONFIG_H_
#define TENSOROPS_SERVER_SERVER_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "request/limits.h"

namespace tensorops::server {

// Which compute backend serves requests.
enum class BackendChoice {
  kAuto,  // CUDA when built and a GPU is present, otherwise CPU
  kCpu,
  kCuda,  // fail to start without a usable GPU
};

// "auto", "cpu" or "cuda".
absl::string_view BackendChoiceName(BackendChoice choice);

// The defaults here are the flags' defaults (server_config.cc reads them).
struct ServerConfig {
  // gRPC listen address, host:port; port 0 picks a free port.
  std::string address = "127.0.0.1:50051";
  // Prometheus /metrics listen address; empty disables the endpoint.
  std::string metrics_address = "127.0.0.1:9464";
  // The Open Inference Protocol over HTTP/REST, host:port; empty (the
  // default) serves none.
  std::string http_address;
  // Largest request or response message, in bytes: a 512 MiB tensor plus
  // room for the rest of the message.
  int64_t max_message_bytes = request::RequestLimits{}.max_message_bytes;
  // Idle time after which a saved session is freed.
  absl::Duration session_ttl = absl::Minutes(10);
  // Upper bound on memory held by saved sessions.
  int64_t session_cache_bytes = int64_t{1} << 30;
  // Compute threads; 0 means one per available core.
  int threads = 0;
  // How long in-flight calls may take to finish after SIGTERM/SIGINT.
  absl::Duration shutdown_timeout = absl::Seconds(10);
  // The drain's lame-duck phase: health NOT_SERVING and new calls answered
  // UNAVAILABLE for at least this long (and until the calls in flight are
  // done) before gRPC shuts down. Capped by shutdown_timeout.
  absl::Duration lame_duck = absl::Seconds(1);
  // The compute backend (--backend).
  BackendChoice backend = BackendChoice::kAuto;

  // Transport security. With a certificate and key the gRPC port speaks TLS
  // only; with a client CA as well, callers must present a certificate it
  // signed (mutual TLS). All PEM files; empty means plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Bearer tokens, one per line (server/bearer_tokens.h); empty accepts
  // every caller. Health checks never need one.
  std::string auth_tokens_file;

  // Limits; a request over one fails with RESOURCE_EXHAUSTED naming it.
  // Elements in any tensor a request carries or asks for.
  int64_t max_tensor_elements = request::RequestLimits{}.max_tensor_elements;
  // Streamed calls' limits (request/limits.h).
  int64_t max_streamed_tensor_elements =
      request::RequestLimits{}.max_streamed_tensor_elements;
  int64_t max_stream_buffer_bytes =
      request::RequestLimits{}.max_stream_buffer_bytes;
  // Calls of tensorops.v1.TensorOps being served at once.
  int64_t max_inflight_requests = 256;
  // Sessions one caller (token, certificate, or all anonymous callers
  // together) may hold at once.
  int64_t max_sessions_per_caller = 16384;
  // Session bytes one caller may hold; 0: no fixed quota (each caller is
  // still held to its fair share when the cache is full).
  int64_t session_bytes_per_caller = 0;
  // Response bytes held at once by calls that gRPC has not finished
  // sending (computed or being computed); a call that would pass it fails
  // with RESOURCE_EXHAUSTED before computing.
  int64_t max_inflight_response_bytes = int64_t{2} << 30;
  // A response its client has not taken this long after it was handed to
  // gRPC is cancelled and its memory freed.
  absl::Duration response_write_timeout = absl::Seconds(10);
  // gRPC's connection management: a connection without calls for
  // max_connection_idle, or older than max_connection_age, is sent a
  // GOAWAY; calls still running on an aged one get max_connection_age_grace
  // before it is closed. absl::InfiniteDuration() disables each.
  absl::Duration max_connection_idle = absl::Minutes(10);
  absl::Duration max_connection_age = absl::Hours(1);
  absl::Duration max_connection_age_grace = absl::Minutes(5);

  // A log line for every finished call: method, code, duration, bytes and
  // caller (tokens never shown).
  bool log_requests = false;

  // Shared memory (server/shared_memory_registry.h): off unless allowed.
  bool allow_shared_memory = false;
  // Files may be registered only below this absolute directory; empty: only
  // POSIX shared memory keys.
  std::string shared_memory_file_dir;
  int64_t max_shared_memory_regions_per_caller = 64;
  int64_t max_shared_memory_bytes_per_caller = int64_t{64} << 30;
  // A caller that never held its regions (HoldSharedMemory) loses them
  // after this long without a call; one that did, this long after its last
  // hold ended.
  absl::Duration shared_memory_idle_timeout = absl::Minutes(5);
  absl::Duration shared_memory_release_grace = absl::Seconds(30);
};

// The configuration the command-line flags describe (call after
// absl::ParseCommandLine). INVALID_ARGUMENT naming the flag for values out
// of range.
absl::StatusOr<ServerConfig> ServerConfigFromFlags();

// Checks ranges; the same errors as ServerConfigFromFlags.
absl::Status ValidateServerConfig(const ServerConfig& config);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_SERVER_CONFIG_H_
