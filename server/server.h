// The tensorops gRPC server: TensorOps, health and reflection on one port,
// Prometheus metrics on another.
#ifndef TENSOROPS_SERVER_SERVER_H_
#define TENSOROPS_SERVER_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "core/backend.h"
#include "server/bearer_tokens.h"
#include "server/executor.h"
#include "server/inference_http.h"
#include "server/inference_runner.h"
#include "server/inference_service.h"
#include "server/metrics.h"
#include "server/server_config.h"
#include "server/session_cache.h"
#include "server/shared_memory_registry.h"
#include "server/tensor_ops_service.h"

namespace tensorops::server {

// The name health reports on besides the overall "" status.
inline constexpr char kTensorOpsServiceName[] = "tensorops.v1.TensorOps";

// Knobs that are not flags (tests use them).
struct ServerOverrides {
  // Runs compute instead of a ThreadPoolExecutor of config.threads threads;
  // must outlive the server.
  Executor* executor = nullptr;
  // Replaces TensorOpsServiceOptions::inline_work_bytes when set.
  std::optional<int64_t> inline_work_bytes;
  // Session cache knobs beyond the flags (clock, reaper, shards); max_bytes
  // and ttl still come from the config.
  std::optional<SessionCache::Options> session_cache;
  // Shared memory knobs beyond the flags (clock, reaper); the limits still
  // come from the config.
  std::optional<SharedMemoryOptions> shared_memory;
};

class Server {
 public:
  // Builds everything and starts serving. INVALID_ARGUMENT for a bad
  // config, UNAVAILABLE if a port cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerConfig& config,
      ServerOverrides overrides = ServerOverrides());

  // Shuts down with a zero timeout if Shutdown was not called.
  ~Server();

  // The gRPC port (the one picked when the address asked for port 0).
  int port() const { return port_; }
  // The /metrics port; 0 when metrics are disabled.
  int metrics_port() const { return metrics_->listening_port(); }
  // The HTTP/REST port of the Open Inference Protocol; 0 if none.
  int http_port() const { return http_ == nullptr ? 0 : http_->port(); }

  Metrics& metrics() { return *metrics_; }
  // The backend serving requests ("cpu" or "cuda").
  const Backend& backend() const { return *backend_; }
  SessionCache& sessions() { return *sessions_; }
  SharedMemoryRegistry& shared_memory() { return *shared_memory_; }

  // Graceful shutdown: health turns NOT_SERVING and new calls are answered
  // UNAVAILABLE ("shutting down") for at least --lame_duck and until the
  // calls in flight are done; then gRPC shuts down. Calls in flight get
  // `timeout` (from now) to finish and are cancelled after that.
  // Connections close as soon as their calls are done (idle ones shortly
  // after the last call anywhere is done, not at their client's next
  // poll). Returns once every call is done. Idempotent; call from one
  // thread.
  void Shutdown(absl::Duration timeout);

 private:
  Server() = default;
  // Runs beside gRPC's shutdown until `drained`: closes the connections
  // left once no call has been unfinished for a short grace, or returns at
  // `deadline`.
  void CloseIdleConnectionsOnceCallsAreDone(const absl::Notification& drained,
                                            absl::Time deadline);

  ServerConfig config_;
  std::unique_ptr<Backend> backend_;
  int compute_threads_ = 0;
  std::unique_ptr<SessionCache> sessions_;
  std::unique_ptr<SharedMemoryRegistry> shared_memory_;
  // Null without --auth_tokens_file.
  std::unique_ptr<BearerTokens> tokens_;
  std::unique_ptr<ThreadPoolExecutor> owned_executor_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<TensorOpsService> service_;
  // The Open Inference Protocol, served by service_'s machinery.
  std::unique_ptr<InferenceRunner> inference_runner_;
  std::unique_ptr<InferenceService> inference_service_;
  // Null without --http_address.
  std::unique_ptr<InferenceHttpServer> http_;
  // Declared after everything it calls into, so it is destroyed first.
  std::unique_ptr<grpc::Server> grpc_server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_SERVER_H_
