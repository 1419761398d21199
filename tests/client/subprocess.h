// Child processes for the client tests: the real tensorops-server on a free
// loopback port, and command-line runs with their output captured.
#ifndef TENSOROPS_TESTS_CLIENT_SUBPROCESS_H_
#define TENSOROPS_TESTS_CLIENT_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tensorops::client::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with the arguments, waits for it (killing it after
// `timeout`) and returns what it wrote.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(20));

// tensorops-server listening on 127.0.0.1 at a port it picks itself
// (--address=127.0.0.1:0, read back from its start-up log line), with
// metrics disabled. Stopped with SIGTERM when destroyed.
class ServerProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& binary, const std::vector<std::string>& flags = {});
  ~ServerProcess();

  int port() const { return port_; }
  std::string address() const;

 private:
  ServerProcess() = default;

  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

}  // namespace tensorops::client::testing

#endif  // TENSOROPS_TESTS_CLIENT_SUBPROCESS_H_
