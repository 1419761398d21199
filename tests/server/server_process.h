// The tensorops-server binary as a child process, for tests that need a real
// process: signals, restarts, its resident memory, its /metrics endpoint.
#ifndef TENSOROPS_TESTS_SERVER_SERVER_PROCESS_H_
#define TENSOROPS_TESTS_SERVER_SERVER_PROCESS_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {

// Runs `binary` with `args` (stdout and stderr into a pipe that a thread
// drains, so the child never blocks on a full pipe). The destructor kills a
// child that is still running.
class ChildProcess {
 public:
  // `extra_env` ("NAME=value") is added to this process's environment.
  static std::unique_ptr<ChildProcess> Spawn(
      const std::string& binary, const std::vector<std::string>& args,
      const std::vector<std::string>& extra_env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool Signal(int signal_number);
  // The exit code (128 + signal if killed by one), or nullopt if it is still
  // running after `timeout`.
  std::optional<int> WaitForExit(absl::Duration timeout);
  bool exited() const { return exit_code_.has_value(); }
  // Everything it printed so far.
  std::string Output();
  // Waits until its output contains `marker`; false on timeout or exit.
  bool WaitForOutput(const std::string& marker, absl::Duration timeout);

 private:
  ChildProcess() = default;
  void DrainOutput(int fd);

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::thread reader_;
  absl::Mutex mutex_;
  std::string output_ ABSL_GUARDED_BY(mutex_);
  bool output_closed_ ABSL_GUARDED_BY(mutex_) = false;
};

// A running tensorops-server on 127.0.0.1 with metrics enabled.
class ServerProcess {
 public:
  // Starts the server with `flags` added to --address=127.0.0.1:0 (unless
  // `port` is given) and --metrics_address=127.0.0.1:0, and waits for its
  // "serving" line. Null (with a gtest failure) if it does not start.
  static std::unique_ptr<ServerProcess> Start(
      const std::vector<std::string>& flags, int port = 0,
      const std::vector<std::string>& extra_env = {},
      absl::Duration timeout = absl::Seconds(30));

  ChildProcess& process() { return *process_; }
  pid_t pid() const { return process_->pid(); }
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  std::string target() const;
  // A channel on a connection of its own, without message size limits.
  std::shared_ptr<grpc::Channel> NewChannel() const;

  // The Prometheus exposition from /metrics ("" if unreachable).
  std::string ScrapeMetrics() const;
  // One sample's value (series = name plus labels exactly as exported).
  std::optional<double> Metric(const std::string& series) const;
  // Polls /metrics until `series` has `value`; the last value seen.
  std::optional<double> WaitForMetric(
      const std::string& series, double value,
      absl::Duration timeout = absl::Seconds(10)) const;
  // VmRSS from /proc/<pid>/status, in bytes; -1 if unreadable.
  int64_t ResidentBytes() const;

 private:
  ServerProcess() = default;

  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
  int metrics_port_ = 0;
};

// The tensorops_requests_total series for `method` and `code`.
std::string RequestsSeries(const std::string& method, const std::string& code);

}  // namespace tensorops::server::testing

#endif  // TENSOROPS_TESTS_SERVER_SERVER_PROCESS_H_
