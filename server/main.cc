// tensorops-server: serves tensorops.v1.TensorOps until SIGTERM or SIGINT.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/service_methods.h"
#include "server/log.h"
#include "server/malloc_config.h"
#include "server/server.h"
#include "server/server_config.h"
#include "server/startup_summary.h"

namespace {

// --help lists only the flags of our own sources (not gRPC's or Abseil's).
bool IsOurFlagFile(absl::string_view filename) {
  return absl::StrContains(filename, "server/");
}

}  // namespace

int main(int argc, char** argv) {
  tensorops::server::ConfigureMalloc();
  // Debian's Abseil is built with debug checks, so every absl::Mutex lock
  // records lock-order edges in one global graph (and every destroyed Mutex,
  // such as each call's Cancellation, removes its node under a global lock):
  // about a tenth of the CPU time of tiny calls. The tests keep the checks.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = IsOurFlagFile;
  usage_config.contains_helpshort_flags = IsOurFlagFile;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(absl::StrCat(
      "Serves tensorops.v1.TensorOps (", tensorops::wire::MethodList(),
      ") over gRPC, with health, reflection and Prometheus metrics.\n"
      "Usage: tensorops-server [--address=127.0.0.1:50051] [--flag=value...]"));
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::fprintf(stderr, "unexpected argument '%s'; see --help\n",
                 positional[1]);
    return 2;
  }
  absl::StatusOr<tensorops::server::ServerConfig> config =
      tensorops::server::ServerConfigFromFlags();
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(config.status().message()).c_str());
    return 2;
  }

  // Block the shutdown signals before any thread starts, so every thread
  // inherits the mask and only sigwait() below receives them.
  sigset_t shutdown_signals;
  sigemptyset(&shutdown_signals);
  sigaddset(&shutdown_signals, SIGTERM);
  sigaddset(&shutdown_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &shutdown_signals, nullptr);

  absl::StatusOr<std::unique_ptr<tensorops::server::Server>> server =
      tensorops::server::Server::Start(*config);
  if (!server.ok()) {
    tensorops::server::LogError(server.status().ToString());
    return 1;
  }
  const std::string host =
      config->address.substr(0, config->address.rfind(':'));
  tensorops::server::LogInfo(absl::StrCat(
      "serving tensorops.v1.TensorOps on ", host, ":", (*server)->port(),
      (*server)->metrics_port() != 0
          ? absl::StrCat(", metrics on http://",
                         config->metrics_address.substr(
                             0, config->metrics_address.rfind(':')),
                         ":", (*server)->metrics_port(), "/metrics")
          : std::string(", metrics disabled")));
  tensorops::server::LogInfo(absl::StrCat(
      "the Open Inference Protocol (KServe v2): inference.GRPCInferenceService "
      "on the same port",
      (*server)->http_port() != 0
          ? absl::StrCat(
                ", HTTP/REST at http", config->tls_cert_file.empty() ? "" : "s",
                "://",
                config->http_address.substr(0, config->http_address.rfind(':')),
                ":", (*server)->http_port(), "/v2")
          : std::string(", HTTP/REST off (--http_address)")));
  tensorops::server::LogInfo(
      tensorops::server::DescribeSecurityAndLimits(*config));

  int signal_number = 0;
  sigwait(&shutdown_signals, &signal_number);
  tensorops::server::LogInfo(absl::StrCat(
      "received ", signal_number == SIGTERM ? "SIGTERM" : "SIGINT",
      "; lame duck (at least ", absl::FormatDuration(config->lame_duck),
      "): health is NOT_SERVING, new calls are refused, calls in "
      "flight finish (up to ",
      absl::FormatDuration(config->shutdown_timeout), ")"));
  (*server)->Shutdown(config->shutdown_timeout);
  tensorops::server::LogInfo("stopped");
  // Every call is finished: leave now rather than tear down. Destroying the
  // gRPC server runs grpc_shutdown(), which can wait ~10 s for an idle
  // poller thread, and the metrics web server takes up to 2 s to stop; both
  // would overrun --shutdown_timeout and the orchestrator's grace period.
  std::fflush(nullptr);
  std::_Exit(0);
}
