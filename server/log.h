// Minimal logging to stderr (Debian's Abseil has no absl/log, and gRPC's
// gpr_log hides INFO unless GRPC_VERBOSITY is set).
#ifndef TENSOROPS_SERVER_LOG_H_
#define TENSOROPS_SERVER_LOG_H_

#include "absl/strings/string_view.h"

namespace tensorops::server {

enum class LogSeverity { kInfo, kWarning, kError };

// Writes one line "I2026-11-27T10:00:00.123456Z tensorops] message" to
// stderr. Thread-safe: each line is a single write.
void Log(LogSeverity severity, absl::string_view message);

inline void LogInfo(absl::string_view message) {
  Log(LogSeverity::kInfo, message);
}
inline void LogWarning(absl::string_view message) {
  Log(LogSeverity::kWarning, message);
}
inline void LogError(absl::string_view message) {
  Log(LogSeverity::kError, message);
}

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_LOG_H_
