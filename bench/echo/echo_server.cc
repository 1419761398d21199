// tensorops-bench-echo: the bare-gRPC ceiling for the service benchmarks.
// Any method, any request bytes in; 8 bytes out (the request's length,
// little-endian). Same message limits as tensorops-server, no work at all:
// the time a call takes here is the transfer, which TopK of the same bytes
// is measured against (scripts/bench-service). It configures malloc as
// tensorops-server does (server/malloc_config.h), so the two receive large
// messages into the same warm memory. Not part of the product.
//
//   tensorops-bench-echo --address=127.0.0.1:0
//   -> "serving echo on 127.0.0.1:PORT" on stderr; stops on SIGTERM/SIGINT.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <time.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "server/malloc_config.h"

ABSL_FLAG(std::string, address, "127.0.0.1:0", "host:port to listen on.");
ABSL_FLAG(int64_t, max_message_bytes, int64_t{600} << 20,
          "Largest message accepted (as tensorops-server).");

namespace {

class EchoReactor final : public grpc::ServerGenericBidiReactor {
 public:
  EchoReactor() { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request"));
      return;
    }
    const uint64_t length = request_.Length();
    char bytes[8];
    std::memcpy(bytes, &length, sizeof(bytes));
    grpc::Slice slice(bytes, sizeof(bytes));
    response_ = grpc::ByteBuffer(&slice, 1);
    request_.Clear();
    StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
  }

  void OnDone() override { delete this; }

 private:
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

class EchoService final : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* /*context*/) override {
    return new EchoReactor;
  }
};

volatile std::sig_atomic_t stop_requested = 0;

}  // namespace

int main(int argc, char** argv) {
  tensorops::server::ConfigureMalloc();
  absl::ParseCommandLine(argc, argv);
  const std::string address = absl::GetFlag(FLAGS_address);
  const int max_bytes =
      static_cast<int>(absl::GetFlag(FLAGS_max_message_bytes));
  EchoService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  builder.RegisterCallbackGenericService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "tensorops-bench-echo: cannot listen on " << address << "\n";
    return 1;
  }
  const std::string host = address.substr(0, address.rfind(':'));
  std::cerr << "serving echo on " << host << ":" << port << std::endl;
  std::signal(SIGTERM, [](int) { stop_requested = 1; });
  std::signal(SIGINT, [](int) { stop_requested = 1; });
  while (!stop_requested) {
    // A signal handler may not call Shutdown; poll the flag instead.
    struct timespec nap = {0, 50'000'000};
    nanosleep(&nap, nullptr);
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}
