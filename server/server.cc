#include "server/server.h"

#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <climits>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "core/cpu/cpu_backend.h"
#include "core/cpu/cpu_features.h"
#include "core/cuda/cuda_backend.h"
#include "server/log.h"
#include "server/transport_credentials.h"

namespace tensorops::server {
namespace {

#ifndef TENSOROPS_VERSION
#define TENSOROPS_VERSION "0.0.0"
#endif

struct SelectedBackend {
  std::unique_ptr<Backend> backend;
  int compute_threads = 0;
};

// Which instruction-set clone of the CPU kernels runs, and how to force one.
std::string CpuKernelsNote() {
  return absl::StrCat("kernels ", cpu::KernelIsaName(cpu::ChosenKernelIsa()),
                      ", TENSOROPS_CPU_KERNELS to force generic/avx2/avx512");
}

std::unique_ptr<CpuBackend> MakeCpu(const ServerConfig& config) {
  return std::make_unique<CpuBackend>(
      CpuBackendOptions{.num_threads = config.threads});
}

// --backend: cpu, cuda (an error without a usable GPU) or auto (cuda when
// possible, else cpu; auto serves the selection ops, which the CUDA backend
// lacks, on the cpu). Logs the choice and why.
absl::StatusOr<SelectedBackend> SelectBackend(const ServerConfig& config) {
  SelectedBackend selected;
  if (config.backend != BackendChoice::kCpu) {
    absl::StatusOr<std::unique_ptr<Backend>> cuda = MakeCudaBackend();
    if (cuda.ok()) {
      selected.backend = *std::move(cuda);
      const char* fallback_note = "";
      if (config.backend == BackendChoice::kAuto) {
        // The CUDA backend has no selection kernels; auto serves them here.
        selected.backend->SetSelectionFallback(MakeCpu(config));
        fallback_note = "; the selection ops on the cpu";
      }
      // Callers only enqueue GPU work and wait, so as many as there are
      // cores keep the device busy.
      selected.compute_threads =
          config.threads > 0
              ? config.threads
              : std::max(1,
                         static_cast<int>(std::thread::hardware_concurrency()));
      LogInfo(absl::StrCat(
          "backend cuda (--backend=", BackendChoiceName(config.backend),
          fallback_note, ")"));
      return selected;
    }
    if (config.backend == BackendChoice::kCuda) {
      return absl::Status(
          cuda.status().code(),
          absl::StrCat("--backend=cuda: cannot use the CUDA backend: ",
                       cuda.status().message()));
    }
    // No GPU (or no driver, or a build without CUDA) is the ordinary case
    // of a CPU machine: said calmly, without the CUDA error behind it.
    const absl::string_view why = cuda.status().message();
    std::string reason = absl::StrCat("CUDA unavailable: ", why);
    for (absl::string_view ordinary :
         {"no CUDA device", "built without CUDA"}) {
      if (absl::StartsWith(why, ordinary)) reason = std::string(ordinary);
    }
    LogInfo(absl::StrCat("backend cpu (auto: ", reason, "; ", CpuKernelsNote(),
                         ")"));
  } else {
    LogInfo(
        absl::StrCat("backend cpu (--backend=cpu; ", CpuKernelsNote(), ")"));
  }
  std::unique_ptr<CpuBackend> cpu = MakeCpu(config);
  selected.compute_threads = cpu->num_threads();
  selected.backend = std::move(cpu);
  return selected;
}

// A duration as gRPC's int milliseconds; INT_MAX (gRPC's "never") for
// longer ones and infinity.
int ChannelArgMillis(absl::Duration duration) {
  if (duration >= absl::Milliseconds(INT_MAX)) return INT_MAX;
  return static_cast<int>(absl::ToInt64Milliseconds(duration));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerConfig& config, ServerOverrides overrides) {
  if (absl::Status status = ValidateServerConfig(config); !status.ok()) {
    return status;
  }
  std::unique_ptr<Server> server(new Server());
  server->config_ = config;
  absl::StatusOr<SelectedBackend> selected = SelectBackend(config);
  if (!selected.ok()) return selected.status();
  server->backend_ = std::move(selected->backend);
  server->compute_threads_ = selected->compute_threads;

  SessionCache::Options cache_options =
      overrides.session_cache.value_or(SessionCache::Options{});
  cache_options.max_bytes = config.session_cache_bytes;
  cache_options.ttl = config.session_ttl;
  cache_options.max_sessions_per_owner = config.max_sessions_per_caller;
  cache_options.max_bytes_per_owner = config.session_bytes_per_caller;
  server->sessions_ = std::make_unique<SessionCache>(std::move(cache_options));

  SharedMemoryOptions shm_options =
      overrides.shared_memory.value_or(SharedMemoryOptions{});
  shm_options.allowed = config.allow_shared_memory;
  shm_options.file_dir = config.shared_memory_file_dir;
  shm_options.max_regions_per_owner =
      config.max_shared_memory_regions_per_caller;
  shm_options.max_bytes_per_owner = config.max_shared_memory_bytes_per_caller;
  shm_options.idle_timeout = config.shared_memory_idle_timeout;
  shm_options.release_grace = config.shared_memory_release_grace;
  server->shared_memory_ =
      std::make_unique<SharedMemoryRegistry>(std::move(shm_options));

  Executor* executor = overrides.executor;
  if (executor == nullptr) {
    // One caller thread per compute thread: each call fans out inside the
    // backend's arena, so more callers would only queue there.
    server->owned_executor_ =
        std::make_unique<ThreadPoolExecutor>(server->compute_threads_);
    executor = server->owned_executor_.get();
  }

  SessionCache* sessions = server->sessions_.get();
  absl::StatusOr<std::unique_ptr<Metrics>> metrics = Metrics::Create(
      {.listen_address = config.metrics_address,
       .session_stats = [sessions] { return sessions->stats(); },
       .backend = std::string(server->backend_->name()),
       .version = TENSOROPS_VERSION});
  if (!metrics.ok()) return metrics.status();
  server->metrics_ = *std::move(metrics);

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(config);
  if (!credentials.ok()) return credentials.status();
  if (!config.auth_tokens_file.empty()) {
    absl::StatusOr<std::unique_ptr<BearerTokens>> tokens = BearerTokens::Load(
        {.path = config.auth_tokens_file,
         .log = [](absl::string_view message) { LogInfo(message); }});
    if (!tokens.ok()) return tokens.status();
    server->tokens_ = *std::move(tokens);
  }

  TensorOpsServiceOptions service_options;
  service_options.limits = {
      .max_message_bytes = config.max_message_bytes,
      .max_tensor_elements = config.max_tensor_elements,
      .max_streamed_tensor_elements = config.max_streamed_tensor_elements,
      .max_stream_buffer_bytes = config.max_stream_buffer_bytes};
  service_options.max_inflight_requests = config.max_inflight_requests;
  service_options.max_inflight_response_bytes =
      config.max_inflight_response_bytes;
  service_options.response_write_timeout = config.response_write_timeout;
  service_options.log_requests = config.log_requests;
  service_options.callers = {
      .tokens = server->tokens_.get(),
      .client_certificates = !config.tls_client_ca_file.empty()};
  if (overrides.inline_work_bytes.has_value()) {
    service_options.inline_work_bytes = *overrides.inline_work_bytes;
  }
  service_options.version = TENSOROPS_VERSION;
  service_options.compute_threads = server->compute_threads_;
  server->service_ = std::make_unique<TensorOpsService>(
      *server->backend_, *server->sessions_, *server->shared_memory_, *executor,
      server->metrics_.get(), service_options);
  server->inference_runner_ = std::make_unique<InferenceRunner>(
      *server->backend_, *server->sessions_, service_options.limits);
  server->inference_service_ = std::make_unique<InferenceService>(
      *server->service_, *server->inference_runner_, TENSOROPS_VERSION);

  // Both are process-wide switches read by the builder.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.address, *credentials, &server->port_);
  // Without SO_REUSEPORT a second server on the same port fails to start
  // instead of silently splitting the traffic with the first.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             ChannelArgMillis(config.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             ChannelArgMillis(config.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             ChannelArgMillis(config.max_connection_age_grace));
  // The service checks request sizes itself, so that a refusal is answered
  // with its own message and counted. gRPC's limit would not save memory:
  // it refuses a message only once it has received all of it.
  builder.SetMaxReceiveMessageSize(-1);
  builder.SetMaxSendMessageSize(static_cast<int>(config.max_message_bytes));
  builder.RegisterService(server->service_.get());
  builder.RegisterService(server->inference_service_.get());
  if (!config.http_address.empty()) {
    TensorOpsService* tensor_ops = server->service_.get();
    absl::StatusOr<std::unique_ptr<InferenceHttpServer>> http =
        InferenceHttpServer::Start(
            {.address = config.http_address,
             .tls_cert_file = config.tls_cert_file,
             .tls_key_file = config.tls_key_file,
             .tls_client_ca_file = config.tls_client_ca_file,
             .callers = service_options.callers,
             .max_body_bytes = config.max_message_bytes,
             .max_request_elements = config.max_tensor_elements,
             .version = TENSOROPS_VERSION,
             .draining = [tensor_ops] { return tensor_ops->draining(); },
             .metrics = server->metrics_.get(),
             .log_requests = config.log_requests},
            *server->inference_runner_);
    if (!http.ok()) return http.status();
    server->http_ = *std::move(http);
  }
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    server->grpc_server_.reset();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config.address,
        " (--address): the address is malformed or the port is in use"));
  }
  grpc::HealthCheckServiceInterface* health =
      server->grpc_server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(kTensorOpsServiceName, true);
  return server;
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

void Server::Shutdown(absl::Duration timeout) {
  if (shut_down_ || grpc_server_ == nullptr) return;
  shut_down_ = true;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + timeout;
  // Lame duck first: new calls are answered UNAVAILABLE by the service
  // itself and health watchers and load balancers see NOT_SERVING (the
  // health service freezes in that state), while the calls in flight
  // finish. gRPC's own shutdown comes only after: a call that reaches a
  // server in gRPC's shutdown is cancelled (CANCELLED) rather than refused.
  service_->StartDraining();
  grpc_server_->GetHealthCheckService()->Shutdown();
  const absl::Time lame_duck_end = start + std::min(config_.lame_duck, timeout);
  constexpr absl::Duration kPollInterval = absl::Milliseconds(10);
  for (absl::Time now = start; now < deadline;) {
    if (now >= lame_duck_end && service_->inflight_calls() == 0) break;
    absl::SleepFor(std::min(kPollInterval, deadline - now));
    now = absl::Now();
  }
  absl::Notification drained;
  std::thread closer([this, deadline, &drained] {
    CloseIdleConnectionsOnceCallsAreDone(drained, deadline);
  });
  grpc_server_->Shutdown(absl::ToChronoTime(deadline));
  drained.Notify();
  closer.join();
  grpc_server_->Wait();
  // No call is left to use a region.
  shared_memory_->Clear();
}

void Server::CloseIdleConnectionsOnceCallsAreDone(
    const absl::Notification& drained, absl::Time deadline) {
  // gRPC's graceful shutdown sends each connection a GOAWAY and a ping, and
  // closes the connection when the client answers the ping. A client with a
  // call in flight answers at once; an idle one only at its next poll (gRPC
  // C-core clients poll idle channels every 5 s), so idle clients alone
  // would hold the drain for up to 5 s, or the whole timeout. Once no call
  // of ours has been in flight for this long, the connections left are
  // closed as at the deadline. The health and reflection services' calls
  // are not counted: unary ones answer well within the grace, and a health
  // Watch, which never ends by itself, is cancelled here rather than at the
  // deadline.
  constexpr absl::Duration kIdleGrace = absl::Milliseconds(250);
  constexpr absl::Duration kPollInterval = absl::Milliseconds(10);
  absl::Time idle_since = absl::InfiniteFuture();
  while (!drained.WaitForNotificationWithDeadline(
      std::min(deadline, absl::Now() + kPollInterval))) {
    const absl::Time now = absl::Now();
    // At the deadline gRPC cancels what is left itself.
    if (now >= deadline) return;
    if (service_->inflight_calls() > 0) {
      idle_since = absl::InfiniteFuture();
      continue;
    }
    idle_since = std::min(idle_since, now);
    if (now - idle_since >= kIdleGrace) {
      grpc_server_cancel_all_calls(grpc_server_->c_server());
      return;
    }
  }
}

}  // namespace tensorops::server
