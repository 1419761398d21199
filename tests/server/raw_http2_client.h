// A hand-rolled HTTP/2 client for tests that need what gRPC's own client
// never does: grant no flow-control window and stop reading, reset streams
// in the middle of their upload, hold streams open, watch for GOAWAY.
#ifndef TENSOROPS_TESTS_SERVER_RAW_HTTP2_CLIENT_H_
#define TENSOROPS_TESTS_SERVER_RAW_HTTP2_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tensorops::server::testing {

// HTTP/2 frame types (RFC 9113, section 6).
enum class FrameType : uint8_t {
  kData = 0,
  kHeaders = 1,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kWindowUpdate = 8,
};

struct RawFrame {
  FrameType type;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string payload;
};

class RawHttp2Client {
 public:
  struct Options {
    // SETTINGS_INITIAL_WINDOW_SIZE announced to the server: 0 lets it send
    // no DATA on any stream (this client never sends WINDOW_UPDATE).
    uint32_t initial_window_size = 65535;
    // SO_RCVBUF of the socket, set before connecting; 0 keeps the default.
    int receive_buffer_bytes = 0;
  };

  // Connects to 127.0.0.1:`port` over plaintext HTTP/2 (prior knowledge),
  // sends the preface and SETTINGS, and acknowledges the server's SETTINGS.
  // Null (with a gtest failure) on error.
  static std::unique_ptr<RawHttp2Client> Connect(int port, Options options);
  ~RawHttp2Client();
  RawHttp2Client(const RawHttp2Client&) = delete;
  RawHttp2Client& operator=(const RawHttp2Client&) = delete;

  // Opens a stream calling gRPC method `path` (e.g.
  // "/tensorops.v1.TensorOps/TopK") and sends `message` gRPC-framed in one
  // DATA frame (which must fit the server's window, 64 KiB), ending the
  // stream unless `end_stream` is false. Returns the stream id, 0 on error.
  uint32_t StartCall(absl::string_view path, absl::string_view message,
                     bool end_stream = true);
  // Opens a stream whose DATA carries only `prefix_bytes` of a message
  // announced as `announced_bytes` long, left unfinished. Returns its id.
  uint32_t StartTruncatedCall(absl::string_view path, uint32_t announced_bytes,
                              absl::string_view prefix_bytes);
  // RST_STREAM with CANCEL.
  bool ResetStream(uint32_t stream);

  // The next frame of `type` (others are skipped), or nullopt if none came
  // within `timeout` or the connection ended. Reading lets the server write
  // again; a slow reader simply never calls it.
  std::optional<RawFrame> NextFrameOfType(FrameType type,
                                          absl::Duration timeout);
  // Whether the server closed the connection within `timeout` (any frames
  // before the end are skipped).
  bool WaitForClose(absl::Duration timeout);

 private:
  explicit RawHttp2Client(int fd) : fd_(fd) {}
  bool SendFrame(FrameType type, uint8_t flags, uint32_t stream,
                 absl::string_view payload);
  bool SendHeaders(uint32_t stream, absl::string_view path);
  // The next frame, or nullopt on timeout (`timed_out` set) or end.
  std::optional<RawFrame> ReadFrame(absl::Time deadline, bool* timed_out);
  bool ReadExactly(char* out, size_t size, absl::Time deadline,
                   bool* timed_out);

  int fd_ = -1;
  uint32_t next_stream_ = 1;
};

}  // namespace tensorops::server::testing

#endif  // TENSOROPS_TESTS_SERVER_RAW_HTTP2_CLIENT_H_
