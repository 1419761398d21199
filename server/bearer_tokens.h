// The bearer tokens that --auth_tokens_file accepts, reloaded when the file
// changes.
#ifndef TENSOROPS_SERVER_BEARER_TOKENS_H_
#define TENSOROPS_SERVER_BEARER_TOKENS_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tensorops::server {

// File format: one token per line; surrounding whitespace is ignored, as are
// blank lines and lines starting with '#'. A token is 16 to 4096 printable
// ASCII characters without spaces (short tokens are guessable).
//
// Hot reload: Accepts() looks at the file's modification time and size at
// most once per `check_interval`, and re-reads it when they changed. A file
// that became unreadable, empty or malformed is reported (through `log`) and
// the previous tokens stay in force, so a bad edit neither locks every caller
// out nor lets everyone in. Thread-safe.
class BearerTokens {
 public:
  struct Options {
    std::string path;
    absl::Duration check_interval = absl::Seconds(1);
    // Monotonic time source; null means a steady clock.
    std::function<absl::Time()> clock = nullptr;
    // Receives reload notices and errors; null discards them.
    std::function<void(absl::string_view)> log = nullptr;
  };

  // Reads the file. INVALID_ARGUMENT naming --auth_tokens_file if it cannot
  // be read, holds no token, or holds a malformed one.
  static absl::StatusOr<std::unique_ptr<BearerTokens>> Load(Options options);

  // Whether `token` is currently accepted. Every accepted token is compared
  // in full, so the time taken does not depend on how much of `token`
  // matches one of them.
  bool Accepts(absl::string_view token);

  // The number of tokens in force.
  size_t size();

 private:
  struct FileVersion {
    struct timespec modified {};
    off_t size = -1;
    bool operator==(const FileVersion& other) const;
  };
  struct Parsed {
    std::vector<std::string> tokens;
    FileVersion version;
  };

  explicit BearerTokens(Options options);
  // The file's modification time and size; INVALID_ARGUMENT if it cannot
  // be stat'ed.
  static absl::StatusOr<FileVersion> VersionOf(const std::string& path);
  static absl::StatusOr<Parsed> ReadFile(const std::string& path);
  absl::Time Now() const;
  void MaybeReload() ABSL_LOCKS_EXCLUDED(mutex_);

  const Options options_;
  absl::Mutex mutex_;
  std::vector<std::string> tokens_ ABSL_GUARDED_BY(mutex_);
  FileVersion version_ ABSL_GUARDED_BY(mutex_);
  // When to look at the file next, in nanoseconds of Now(); the thread that
  // advances it does the check, the others go on with the tokens in force.
  std::atomic<int64_t> next_check_ns_{0};
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_BEARER_TOKENS_H_
