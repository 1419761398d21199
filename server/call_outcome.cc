#include "server/call_outcome.h"

#include <utility>

namespace tensorops::server {

void CallOutcome::WhenDone(
    absl::AnyInvocable<void(bool result_delivered) &&> hook) {
  bool result_delivered = false;
  {
    absl::MutexLock lock(&mutex_);
    if (!concluded_) {
      hooks_.push_back(std::move(hook));
      return;
    }
    result_delivered = result_delivered_;
  }
  std::move(hook)(result_delivered);
}

void CallOutcome::Conclude(bool result_delivered) {
  std::vector<absl::AnyInvocable<void(bool) &&>> hooks;
  {
    absl::MutexLock lock(&mutex_);
    if (concluded_) return;
    concluded_ = true;
    result_delivered_ = result_delivered;
    hooks.swap(hooks_);
  }
  for (auto& hook : hooks) std::move(hook)(result_delivered);
}

}  // namespace tensorops::server
