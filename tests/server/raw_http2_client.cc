#include "tests/server/raw_http2_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tensorops::server::testing {
namespace {

constexpr absl::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kEndStream = 0x1;
constexpr uint8_t kAck = 0x1;
constexpr uint8_t kEndHeaders = 0x4;
constexpr uint16_t kSettingsInitialWindowSize = 0x4;
constexpr uint32_t kCancel = 0x8;

void AppendBigEndian(uint64_t value, int bytes, std::string& out) {
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

// An HPACK "literal header field without indexing, new name" with plain
// (not Huffman-coded) strings shorter than 127 bytes.
void AppendLiteralHeader(absl::string_view name, absl::string_view value,
                         std::string& out) {
  EXPECT_LT(name.size(), 127u);
  EXPECT_LT(value.size(), 127u);
  out.push_back(0);
  out.push_back(static_cast<char>(name.size()));
  out.append(name.data(), name.size());
  out.push_back(static_cast<char>(value.size()));
  out.append(value.data(), value.size());
}

// A gRPC message header: not compressed, then the length.
std::string GrpcPrefix(uint32_t length) {
  std::string prefix(1, '\0');
  AppendBigEndian(length, 4, prefix);
  return prefix;
}

}  // namespace

std::unique_ptr<RawHttp2Client> RawHttp2Client::Connect(int port,
                                                        Options options) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<RawHttp2Client> client(new RawHttp2Client(fd));
  if (options.receive_buffer_bytes > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &options.receive_buffer_bytes,
                 sizeof(options.receive_buffer_bytes));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    ADD_FAILURE() << "connect to port " << port << ": " << std::strerror(errno);
    return nullptr;
  }
  std::string settings;
  AppendBigEndian(kSettingsInitialWindowSize, 2, settings);
  AppendBigEndian(options.initial_window_size, 4, settings);
  if (::send(fd, kPreface.data(), kPreface.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(kPreface.size()) ||
      !client->SendFrame(FrameType::kSettings, 0, 0, settings)) {
    ADD_FAILURE() << "sending the preface failed";
    return nullptr;
  }
  // The server's SETTINGS, which a peer must acknowledge.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (true) {
    bool timed_out = false;
    std::optional<RawFrame> frame = client->ReadFrame(deadline, &timed_out);
    if (!frame.has_value()) {
      ADD_FAILURE() << "no SETTINGS from the server";
      return nullptr;
    }
    if (frame->type == FrameType::kSettings && (frame->flags & kAck) == 0) {
      break;
    }
  }
  if (!client->SendFrame(FrameType::kSettings, kAck, 0, "")) return nullptr;
  return client;
}

RawHttp2Client::~RawHttp2Client() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawHttp2Client::SendFrame(FrameType type, uint8_t flags, uint32_t stream,
                               absl::string_view payload) {
  std::string frame;
  AppendBigEndian(payload.size(), 3, frame);
  frame.push_back(static_cast<char>(type));
  frame.push_back(static_cast<char>(flags));
  AppendBigEndian(stream & 0x7fffffffu, 4, frame);
  frame.append(payload.data(), payload.size());
  size_t sent = 0;
  while (sent < frame.size()) {
    const ssize_t n =
        ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

bool RawHttp2Client::SendHeaders(uint32_t stream, absl::string_view path) {
  std::string block;
  AppendLiteralHeader(":method", "POST", block);
  AppendLiteralHeader(":scheme", "http", block);
  AppendLiteralHeader(":path", path, block);
  AppendLiteralHeader(":authority", "localhost", block);
  AppendLiteralHeader("content-type", "application/grpc", block);
  AppendLiteralHeader("te", "trailers", block);
  return SendFrame(FrameType::kHeaders, kEndHeaders, stream, block);
}

uint32_t RawHttp2Client::StartCall(absl::string_view path,
                                   absl::string_view message, bool end_stream) {
  const uint32_t stream = next_stream_;
  next_stream_ += 2;
  const std::string data =
      GrpcPrefix(static_cast<uint32_t>(message.size())) + std::string(message);
  if (!SendHeaders(stream, path) ||
      !SendFrame(FrameType::kData, end_stream ? kEndStream : 0, stream, data)) {
    return 0;
  }
  return stream;
}

uint32_t RawHttp2Client::StartTruncatedCall(absl::string_view path,
                                            uint32_t announced_bytes,
                                            absl::string_view prefix_bytes) {
  const uint32_t stream = next_stream_;
  next_stream_ += 2;
  const std::string data =
      GrpcPrefix(announced_bytes) + std::string(prefix_bytes);
  if (!SendHeaders(stream, path) ||
      !SendFrame(FrameType::kData, 0, stream, data)) {
    return 0;
  }
  return stream;
}

bool RawHttp2Client::ResetStream(uint32_t stream) {
  std::string code;
  AppendBigEndian(kCancel, 4, code);
  return SendFrame(FrameType::kRstStream, 0, stream, code);
}

bool RawHttp2Client::ReadExactly(char* out, size_t size, absl::Time deadline,
                                 bool* timed_out) {
  size_t got = 0;
  while (got < size) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      *timed_out = true;
      return false;
    }
    pollfd waiting{fd_, POLLIN, 0};
    const int ready = ::poll(&waiting, 1,
                             static_cast<int>(std::max<int64_t>(
                                 1, absl::ToInt64Milliseconds(left))));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return false;
    if (ready == 0) continue;
    const ssize_t n = ::recv(fd_, out + got, size - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // closed or reset
    got += static_cast<size_t>(n);
  }
  return true;
}

std::optional<RawFrame> RawHttp2Client::ReadFrame(absl::Time deadline,
                                                  bool* timed_out) {
  unsigned char header[9];
  if (!ReadExactly(reinterpret_cast<char*>(header), sizeof(header), deadline,
                   timed_out)) {
    return std::nullopt;
  }
  const size_t length =
      (size_t{header[0]} << 16) | (size_t{header[1]} << 8) | size_t{header[2]};
  RawFrame frame;
  frame.type = static_cast<FrameType>(header[3]);
  frame.flags = header[4];
  frame.stream = ((uint32_t{header[5]} << 24) | (uint32_t{header[6]} << 16) |
                  (uint32_t{header[7]} << 8) | uint32_t{header[8]}) &
                 0x7fffffffu;
  frame.payload.resize(length);
  if (length > 0 &&
      !ReadExactly(frame.payload.data(), length, deadline, timed_out)) {
    return std::nullopt;
  }
  return frame;
}

std::optional<RawFrame> RawHttp2Client::NextFrameOfType(
    FrameType type, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    bool timed_out = false;
    std::optional<RawFrame> frame = ReadFrame(deadline, &timed_out);
    if (!frame.has_value()) return std::nullopt;
    if (frame->type == type) return frame;
  }
}

bool RawHttp2Client::WaitForClose(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    bool timed_out = false;
    if (!ReadFrame(deadline, &timed_out).has_value()) return !timed_out;
  }
}

}  // namespace tensorops::server::testing
