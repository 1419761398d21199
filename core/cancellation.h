// Cooperative cancellation of backend work, for callers that stop waiting
// (a cancelled RPC, a passed deadline).
//
//   Cancellation cancellation;
//   {
//     CancellationScope scope(&cancellation);  // this thread's backend calls
//     absl::StatusOr<TopKResult> r = backend.TopK(input, options);
//   }
//   // elsewhere, any thread: cancellation.Cancel();
//
// A backend call made on a thread with a scope checks the cancellation when
// it starts and, while it runs, stops handing out work (a CPU backend call
// finishes the chunks already running and skips the rest); it then returns
// CANCELLED and its partial result is discarded. The scope is per thread so
// the Backend interface stays the same for callers that never cancel.
#ifndef TENSOROPS_CORE_CANCELLATION_H_
#define TENSOROPS_CORE_CANCELLATION_H_

#include <atomic>
#include <cstdint>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace tensorops {

// A one-way flag with callbacks. Thread-safe.
class Cancellation {
 public:
  using CallbackId = uint64_t;

  Cancellation() = default;
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  // Raises the flag and runs every subscribed callback once, on this thread.
  // Later calls do nothing.
  void Cancel();

  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  // Runs `callback` on Cancel(), or now (on this thread) if already
  // cancelled. Returns an id for Unsubscribe.
  CallbackId Subscribe(absl::AnyInvocable<void()> callback);

  // Removes a callback. Once it returns the callback is not running and
  // never will, so what it captured may be destroyed.
  void Unsubscribe(CallbackId id);

 private:
  std::atomic<bool> cancelled_{false};
  absl::Mutex mutex_;
  CallbackId next_id_ ABSL_GUARDED_BY(mutex_) = 1;
  absl::flat_hash_map<CallbackId, absl::AnyInvocable<void()>> callbacks_
      ABSL_GUARDED_BY(mutex_);
};

// Makes `cancellation` (may be null) the one that backend calls on this
// thread observe, until the scope ends; scopes nest.
class CancellationScope {
 public:
  explicit CancellationScope(Cancellation* cancellation);
  CancellationScope(const CancellationScope&) = delete;
  CancellationScope& operator=(const CancellationScope&) = delete;
  ~CancellationScope();

 private:
  Cancellation* const previous_;
};

// The cancellation of the innermost scope on this thread; null outside any.
Cancellation* CurrentCancellation();

// The status a cancelled backend call returns.
absl::Status CancelledComputationError();

}  // namespace tensorops

#endif  // TENSOROPS_CORE_CANCELLATION_H_
