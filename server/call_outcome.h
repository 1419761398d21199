// What runs once a call's outcome is known: whether its result reached the
// client. Sessions hang on it (a TopK's session is kept only if its
// response was delivered, a Backward consumes its session only then).
#ifndef TENSOROPS_SERVER_CALL_OUTCOME_H_
#define TENSOROPS_SERVER_CALL_OUTCOME_H_

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace tensorops::server {

// Thread-safe.
class CallOutcome {
 public:
  // Runs `hook(result_delivered)` once the outcome is known (Conclude); a
  // hook added after that runs at once, on the calling thread.
  void WhenDone(absl::AnyInvocable<void(bool result_delivered) &&> hook);

  // Settles the outcome and runs the hooks, outside the lock; later calls
  // do nothing.
  void Conclude(bool result_delivered);

 private:
  absl::Mutex mutex_;
  bool concluded_ ABSL_GUARDED_BY(mutex_) = false;
  bool result_delivered_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<absl::AnyInvocable<void(bool) &&>> hooks_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_CALL_OUTCOME_H_
