#include "server/shared_memory_hold.h"

#include <utility>

#include "server/status_mapping.h"

namespace tensorops::server {

SharedMemoryHold* SharedMemoryHold::Open(SharedMemoryRegistry& registry,
                                         std::string owner) {
  if (absl::Status opened = registry.OpenHold(owner); !opened.ok()) {
    return Refuse(std::move(opened));
  }
  auto* hold = new SharedMemoryHold(&registry, std::move(owner));
  // Tells the client that the hold is counted (it waits for this before it
  // registers a region, so that no region exists unheld).
  hold->StartSendInitialMetadata();
  // The read completes (not ok) when the client closes its side, cancels,
  // or its connection is gone: the call then ends.
  hold->StartRead(&hold->ignored_);
  return hold;
}

SharedMemoryHold* SharedMemoryHold::Refuse(absl::Status status) {
  auto* hold = new SharedMemoryHold(nullptr, "");
  hold->Finish(ToGrpcStatus(status));
  return hold;
}

void SharedMemoryHold::OnReadDone(bool ok) {
  if (ok) {
    ignored_.Clear();
    StartRead(&ignored_);
    return;
  }
  Finish(grpc::Status::OK);
}

void SharedMemoryHold::OnDone() {
  if (registry_ != nullptr) registry_->CloseHold(owner_);
  delete this;
}

}  // namespace tensorops::server
