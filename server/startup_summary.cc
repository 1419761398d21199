#include "server/startup_summary.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace tensorops::server {
namespace {

// Bytes in the largest binary unit that divides them (1 GiB, 600 MiB,
// 12345 bytes).
std::string Bytes(int64_t bytes) {
  constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (unit < 4 && bytes != 0 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return absl::StrCat(bytes, " ", kUnits[unit]);
}

std::string Duration(absl::Duration duration) {
  return duration == absl::InfiniteDuration() ? std::string("never")
                                              : absl::FormatDuration(duration);
}

}  // namespace

std::string DescribeSecurityAndLimits(const ServerConfig& config) {
  const bool tls = !config.tls_cert_file.empty();
  std::string out = absl::StrCat(
      "security: TLS ",
      tls ? (config.tls_client_ca_file.empty()
                 ? "on"
                 : "on (client certificates required)")
          : "off (plaintext)",
      ", bearer tokens ", config.auth_tokens_file.empty() ? "off" : "on",
      "; shared memory ", config.allow_shared_memory ? "on" : "off");
  absl::StrAppend(
      &out, "; limits: --max_message_bytes=", Bytes(config.max_message_bytes),
      " --max_tensor_elements=", config.max_tensor_elements,
      " --max_streamed_tensor_elements=", config.max_streamed_tensor_elements,
      " --max_stream_buffer_bytes=", Bytes(config.max_stream_buffer_bytes),
      " --max_inflight_requests=", config.max_inflight_requests,
      " --max_inflight_response_bytes=",
      Bytes(config.max_inflight_response_bytes),
      " --session_cache_bytes=", Bytes(config.session_cache_bytes),
      " --max_sessions_per_caller=", config.max_sessions_per_caller,
      " --session_ttl=", Duration(config.session_ttl),
      " --response_write_timeout=", Duration(config.response_write_timeout),
      " --max_connection_idle=", Duration(config.max_connection_idle),
      " --max_connection_age=", Duration(config.max_connection_age));
  return out;
}

}  // namespace tensorops::server
