// The client's side of HoldSharedMemory: a call kept open while the client
// has shared memory regions, so that the server keeps them while this
// client's connection lives and unmaps them a grace period after it is gone
// (the process exited or crashed; proto/tensorops/v1/tensor_ops.proto).
// TensorOpsClient opens one when a RegisterSharedMemory succeeds and it has
// none open; destroying the hold (or the client) ends the call.
#ifndef TENSOROPS_CLIENT_SHARED_MEMORY_HOLD_H_
#define TENSOROPS_CLIENT_SHARED_MEMORY_HOLD_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "tensorops/v1/tensor_ops.grpc.pb.h"

namespace tensorops::client {

class SharedMemoryHold final
    : public grpc::ClientBidiReactor<tensorops::v1::HoldSharedMemoryRequest,
                                     tensorops::v1::HoldSharedMemoryResponse> {
 public:
  // Starts the call on `stub` with `context` (its metadata; no deadline)
  // and waits, at most `wait`, until the server has counted it (its initial
  // metadata arrived) or the call has ended (refused, or no server).
  static std::unique_ptr<SharedMemoryHold> Open(
      tensorops::v1::TensorOps::Stub& stub,
      std::unique_ptr<grpc::ClientContext> context, absl::Duration wait);

  // Cancels the call and waits until gRPC is done with it.
  ~SharedMemoryHold() override;

  // Whether the call has ended (the server refused it, shut down, or the
  // connection broke); a client then opens a new one.
  bool ended() const { return done_.HasBeenNotified(); }
  // The call's status once ended(); OK before.
  absl::Status status() const;

  void OnReadInitialMetadataDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  explicit SharedMemoryHold(std::unique_ptr<grpc::ClientContext> context)
      : context_(std::move(context)) {}

  std::unique_ptr<grpc::ClientContext> context_;
  tensorops::v1::HoldSharedMemoryResponse ignored_;
  mutable absl::Mutex mutex_;
  absl::Status status_ ABSL_GUARDED_BY(mutex_);
  // The server's initial metadata arrived, or the call ended.
  bool established_ ABSL_GUARDED_BY(mutex_) = false;
  absl::Notification done_;
};

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_SHARED_MEMORY_HOLD_H_
