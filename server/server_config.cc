#include "server/server_config.h"

#include <climits>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, address, "127.0.0.1:50051",
          "gRPC listen address, host:port (0.0.0.0:50051 for every "
          "interface; port 0 picks a free port).");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9464",
          "Where Prometheus metrics are served at /metrics, host:port; empty "
          "disables the endpoint.");
ABSL_FLAG(int64_t, max_message_bytes, int64_t{600} << 20,
          "Largest request or response message in bytes (default 600 MiB: a "
          "512 MiB tensor plus room for the rest of the message). Results "
          "that would exceed it fail with RESOURCE_EXHAUSTED.");
ABSL_FLAG(absl::Duration, session_ttl, absl::Minutes(10),
          "Sessions saved by TopK(save_for_backward) and unused for this long "
          "are freed, e.g. 30s, 10m, 1h.");
ABSL_FLAG(int64_t, session_cache_bytes, int64_t{1} << 30,
          "Memory cap for saved sessions in bytes (default 1 GiB); the least "
          "recently used sessions are evicted to stay under it.");
ABSL_FLAG(int32_t, threads, 0,
          "Compute threads; 0 means one per available core.");
ABSL_FLAG(absl::Duration, shutdown_timeout, absl::Seconds(10),
          "On SIGTERM or SIGINT, how long in-flight calls may take to finish "
          "before they are cancelled.");

ABSL_FLAG(std::string, backend, "auto",
          "Compute backend: cpu, cuda (fails to start without a usable GPU) "
          "or auto (cuda when built with CUDA and a GPU is present, else "
          "cpu; the choice and its reason are logged at start).");

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
  config.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  config.session_ttl = absl::GetFlag(FLAGS_session_ttl);
  config.session_cache_bytes = absl::GetFlag(FLAGS_session_cache_bytes);
  config.threads = absl::GetFlag(FLAGS_threads);
  config.shutdown_timeout = absl::GetFlag(FLAGS_shutdown_timeout);
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
