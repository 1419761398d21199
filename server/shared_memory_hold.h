// HoldSharedMemory: a call that ties its caller's shared memory regions to
// the caller's connection. The server reads (and ignores) what the client
// sends and answers nothing; the call ends when the client closes its side
// (OK), cancels it or loses its connection (gRPC cancels the call), or the
// server shuts down. While it is open the caller's regions stay; once the
// caller's last hold ends they go after the release grace
// (server/shared_memory_registry.h).
//
// Holds are not calls in flight: they never end by themselves, so they do
// not count against --max_inflight_requests and do not hold up a drain
// (the server cancels them with the other long-lived calls once its own
// calls are done; server/server.cc).
#ifndef TENSOROPS_SERVER_SHARED_MEMORY_HOLD_H_
#define TENSOROPS_SERVER_SHARED_MEMORY_HOLD_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/status.h"
#include "server/shared_memory_registry.h"

namespace tensorops::server {

class SharedMemoryHold final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // Opens a hold for `owner` (refused, the call finishing at once with
  // OpenHold's error, if it fails); deletes itself when gRPC is done.
  static SharedMemoryHold* Open(SharedMemoryRegistry& registry,
                                std::string owner);
  // A hold refused before it reached the registry (draining, the caller
  // not accepted, not a local peer).
  static SharedMemoryHold* Refuse(absl::Status status);

  void OnReadDone(bool ok) override;
  void OnDone() override;

 private:
  SharedMemoryHold(SharedMemoryRegistry* registry, std::string owner)
      : registry_(registry), owner_(std::move(owner)) {}

  SharedMemoryRegistry* const registry_;  // null: refused, nothing to close
  const std::string owner_;
  grpc::ByteBuffer ignored_;
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_SHARED_MEMORY_HOLD_H_
