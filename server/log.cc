#include "server/log.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tensorops::server {

void Log(LogSeverity severity, absl::string_view message) {
  const char letter = severity == LogSeverity::kInfo      ? 'I'
                      : severity == LogSeverity::kWarning ? 'W'
                                                          : 'E';
  const std::string line =
      absl::StrCat(absl::string_view(&letter, 1),
                   absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(),
                                    absl::UTCTimeZone()),
                   " tensorops] ", message, "\n");
  // One write(2) per line so concurrent lines do not interleave.
  size_t written = 0;
  while (written < line.size()) {
    const ssize_t n =
        ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n <= 0) return;
    written += static_cast<size_t>(n);
  }
}

}  // namespace tensorops::server
