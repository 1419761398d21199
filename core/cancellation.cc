#include "core/cancellation.h"

namespace tensorops {
namespace {

thread_local Cancellation* current_cancellation = nullptr;

}  // namespace

void Cancellation::Cancel() {
  absl::MutexLock lock(&mutex_);
  if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
  // Callbacks run under the lock so that Unsubscribe() waits for a running
  // one; they must not call back into this object.
  for (auto& [id, callback] : callbacks_) callback();
  callbacks_.clear();
}

Cancellation::CallbackId Cancellation::Subscribe(
    absl::AnyInvocable<void()> callback) {
  absl::MutexLock lock(&mutex_);
  const CallbackId id = next_id_++;
  if (cancelled_.load(std::memory_order_acquire)) {
    callback();
  } else {
    callbacks_.emplace(id, std::move(callback));
  }
  return id;
}

void Cancellation::Unsubscribe(CallbackId id) {
  absl::AnyInvocable<void()> removed;
  {
    absl::MutexLock lock(&mutex_);
    auto it = callbacks_.find(id);
    if (it == callbacks_.end()) return;
    removed = std::move(it->second);
    callbacks_.erase(it);
  }
  // `removed` is destroyed outside the lock.
}

CancellationScope::CancellationScope(Cancellation* cancellation)
    : previous_(current_cancellation) {
  current_cancellation = cancellation;
}

CancellationScope::~CancellationScope() { current_cancellation = previous_; }

Cancellation* CurrentCancellation() { return current_cancellation; }

absl::Status CancelledComputationError() {
  return absl::CancelledError(
      "the computation was cancelled (the caller cancelled or its deadline "
      "passed) and its partial result discarded");
}

}  // namespace tensorops
