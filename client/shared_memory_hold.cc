#include "client/shared_memory_hold.h"

#include <utility>

#include "client/grpc_status.h"

namespace tensorops::client {

std::unique_ptr<SharedMemoryHold> SharedMemoryHold::Open(
    tensorops::v1::TensorOps::Stub& stub,
    std::unique_ptr<grpc::ClientContext> context, absl::Duration wait) {
  std::unique_ptr<SharedMemoryHold> hold(
      new SharedMemoryHold(std::move(context)));
  stub.async()->HoldSharedMemory(hold->context_.get(), hold.get());
  // The server sends nothing: this read completes when the call ends.
  hold->StartRead(&hold->ignored_);
  hold->StartCall();
  {
    absl::MutexLock lock(&hold->mutex_);
    hold->mutex_.AwaitWithTimeout(absl::Condition(&hold->established_), wait);
  }
  return hold;
}

SharedMemoryHold::~SharedMemoryHold() {
  context_->TryCancel();
  done_.WaitForNotification();
}

absl::Status SharedMemoryHold::status() const {
  absl::MutexLock lock(&mutex_);
  return status_;
}

void SharedMemoryHold::OnReadInitialMetadataDone(bool /*ok*/) {
  absl::MutexLock lock(&mutex_);
  established_ = true;
}

void SharedMemoryHold::OnReadDone(bool ok) {
  if (ok) StartRead(&ignored_);  // a server that sends anything is ignored
}

void SharedMemoryHold::OnDone(const grpc::Status& status) {
  {
    absl::MutexLock lock(&mutex_);
    status_ = FromGrpcStatus(status);
    established_ = true;
  }
  done_.Notify();
}

}  // namespace tensorops::client
