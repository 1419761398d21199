#include "tests/server/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

extern char** environ;

namespace tensorops::server::testing {

std::unique_ptr<ChildProcess> ChildProcess::Spawn(
    const std::string& binary, const std::vector<std::string>& args,
    const std::vector<std::string>& extra_env) {
  int pipe_fds[2];
  // Close-on-exec, so that children spawned concurrently by other threads
  // do not inherit (and keep open) this child's pipe.
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2 failed";
    return nullptr;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  std::vector<std::string> full = {binary};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : full) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = extra_env;
  std::vector<char*> env;
  for (std::string& entry : env_strings) env.push_back(entry.data());
  for (char** entry = environ; *entry != nullptr; ++entry) {
    env.push_back(*entry);
  }
  env.push_back(nullptr);
  auto child = std::unique_ptr<ChildProcess>(new ChildProcess());
  const int error = posix_spawn(&child->pid_, binary.c_str(), &actions, nullptr,
                                argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (error != 0) {
    ::close(pipe_fds[0]);
    ADD_FAILURE() << "cannot spawn " << binary << ": error " << error;
    return nullptr;
  }
  child->reader_ = std::thread(
      [child = child.get(), fd = pipe_fds[0]] { child->DrainOutput(fd); });
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_code_.has_value()) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (reader_.joinable()) reader_.join();
}

void ChildProcess::DrainOutput(int fd) {
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    absl::MutexLock lock(&mutex_);
    output_.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  absl::MutexLock lock(&mutex_);
  output_closed_ = true;
}

bool ChildProcess::Signal(int signal_number) {
  if (exit_code_.has_value()) return false;
  return ::kill(pid_, signal_number) == 0;
}

std::optional<int> ChildProcess::WaitForExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!exit_code_.has_value()) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exit_code_ =
          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (absl::Now() > deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return exit_code_;
}

std::string ChildProcess::Output() {
  absl::MutexLock lock(&mutex_);
  return output_;
}

bool ChildProcess::WaitForOutput(const std::string& marker,
                                 absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    {
      absl::MutexLock lock(&mutex_);
      if (absl::StrContains(output_, marker)) return true;
      if (output_closed_) return false;
    }
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

namespace {

// The number after `prefix` in `text`, up to the first non-digit.
int PortAfter(absl::string_view text, absl::string_view prefix) {
  const size_t at = text.find(prefix);
  if (at == absl::string_view::npos) return 0;
  absl::string_view rest = text.substr(at + prefix.size());
  size_t digits = 0;
  while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') {
    ++digits;
  }
  int port = 0;
  return absl::SimpleAtoi(rest.substr(0, digits), &port) ? port : 0;
}

}  // namespace

std::unique_ptr<ServerProcess> ServerProcess::Start(
    const std::vector<std::string>& flags, int port,
    const std::vector<std::string>& extra_env, absl::Duration timeout) {
  std::vector<std::string> args = {absl::StrCat("--address=127.0.0.1:", port),
                                   "--metrics_address=127.0.0.1:0"};
  args.insert(args.end(), flags.begin(), flags.end());
  auto server = std::unique_ptr<ServerProcess>(new ServerProcess());
  server->process_ =
      ChildProcess::Spawn(TENSOROPS_SERVER_BINARY, args, extra_env);
  if (server->process_ == nullptr) return nullptr;
  // "serving tensorops.v1.TensorOps on 127.0.0.1:PORT, metrics on
  // http://127.0.0.1:PORT/metrics"
  if (!server->process_->WaitForOutput("/metrics\n", timeout)) {
    ADD_FAILURE() << "tensorops-server did not start:\n"
                  << server->process_->Output();
    return nullptr;
  }
  const std::string output = server->process_->Output();
  server->port_ = PortAfter(output, "TensorOps on 127.0.0.1:");
  server->metrics_port_ = PortAfter(output, "metrics on http://127.0.0.1:");
  if (server->port_ == 0 || server->metrics_port_ == 0) {
    ADD_FAILURE() << "no ports in the server's output:\n" << output;
    return nullptr;
  }
  return server;
}

std::string ServerProcess::target() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::shared_ptr<grpc::Channel> ServerProcess::NewChannel() const {
  return NewTestChannel(target());
}

std::string ServerProcess::ScrapeMetrics() const {
  return HttpGet(metrics_port_, "/metrics");
}

std::optional<double> ServerProcess::Metric(const std::string& series) const {
  return MetricValue(ScrapeMetrics(), series);
}

std::optional<double> ServerProcess::WaitForMetric(
    const std::string& series, double value, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  std::optional<double> seen;
  do {
    seen = Metric(series);
    if (seen == value) break;
    absl::SleepFor(absl::Milliseconds(10));
  } while (absl::Now() < deadline);
  return seen;
}

int64_t ServerProcess::ResidentBytes() const {
  std::ifstream status(absl::StrCat("/proc/", pid(), "/status"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    int64_t kib = 0;
    if (absl::ConsumeSuffix(&rest, "kB") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kib)) {
      return kib * 1024;
    }
  }
  return -1;
}

std::string RequestsSeries(const std::string& method, const std::string& code) {
  return absl::StrCat("tensorops_requests_total{code=\"", code, "\",method=\"",
                      method, "\"}");
}

}  // namespace tensorops::server::testing
