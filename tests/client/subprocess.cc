#include "tests/client/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace tensorops::client::testing {
namespace {

std::vector<char*> ArgvPointers(const std::vector<std::string>& argv) {
  std::vector<char*> pointers;
  for (const std::string& arg : argv) {
    pointers.push_back(const_cast<char*>(arg.c_str()));
  }
  pointers.push_back(nullptr);
  return pointers;
}

int ExitCode(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv,
                         absl::Duration timeout) {
  ProcessResult result;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  pid_t pid = -1;
  std::vector<char*> pointers = ArgvPointers(argv);
  const int spawned = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr,
                                  pointers.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (spawned != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    result.err = absl::StrCat("cannot run ", argv[0]);
    return result;
  }
  // Drain both pipes together so neither can fill up and block the child.
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  const absl::Time deadline = absl::Now() + timeout;
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    const int wait_ms = static_cast<int>(std::max<int64_t>(
        0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    if (poll(fds, 2, wait_ms) <= 0) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, n);
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = killed ? -1 : ExitCode(status);
  return result;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& binary, const std::vector<std::string>& flags) {
  auto server = std::unique_ptr<ServerProcess>(new ServerProcess);
  // The log goes to a file rather than a pipe: a pipe nobody reads would
  // block (or break) the server's later log lines.
  char log_template[] = "/tmp/tensorops-client-test-server-XXXXXX";
  const int log_fd = mkstemp(log_template);
  if (log_fd < 0) return absl::InternalError("mkstemp failed");
  server->log_path_ = log_template;
  std::vector<std::string> argv = {binary, "--address=127.0.0.1:0",
                                   "--metrics_address=", "--threads=2",
                                   "--shutdown_timeout=1s"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, log_fd, STDERR_FILENO);
  std::vector<char*> pointers = ArgvPointers(argv);
  const int spawned = posix_spawn(&server->pid_, binary.c_str(), &actions,
                                  nullptr, pointers.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(log_fd);
  if (spawned != 0) {
    server->pid_ = -1;
    return absl::InternalError(absl::StrCat("cannot run ", binary));
  }
  const std::regex serving_on(R"(serving .* on [^ ]*:(\d+))");
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    const std::string log = ReadFile(server->log_path_);
    std::smatch match;
    if (std::regex_search(log, match, serving_on)) {
      server->port_ = std::atoi(match[1].str().c_str());
      return server;
    }
    int status = 0;
    if (waitpid(server->pid_, &status, WNOHANG) == server->pid_) {
      server->pid_ = -1;
      return absl::InternalError(
          absl::StrCat(binary, " exited during start-up:\n", log));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      binary, " did not report its port:\n", ReadFile(server->log_path_)));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    // Bounded: a server that hangs on shutdown is killed.
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  if (!log_path_.empty()) unlink(log_path_.c_str());
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

}  // namespace tensorops::client::testing
