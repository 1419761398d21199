#include "server/write_watchdog.h"

#include <utility>

namespace tensorops::server {

WriteWatchdog::WriteWatchdog(absl::Duration timeout,
                             std::function<void()> on_timeout)
    : timeout_(timeout), on_timeout_(std::move(on_timeout)) {
  thread_ = std::thread([this] { Run(); });
}

WriteWatchdog::~WriteWatchdog() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
    changed_.SignalAll();
  }
  thread_.join();
}

void WriteWatchdog::Start(Watch& watch, grpc::ServerContextBase* context) {
  absl::MutexLock lock(&mutex_);
  watch.context = context;
  watch.deadline =
      std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout_);
  watch.prev = tail_;
  watch.next = nullptr;
  (tail_ != nullptr ? tail_->next : head_) = &watch;
  tail_ = &watch;
  watch.linked = true;
  // Only a new head changes what the watchdog waits for.
  if (head_ == &watch) changed_.SignalAll();
}

void WriteWatchdog::Unwatch(Watch& watch) {
  absl::MutexLock lock(&mutex_);
  if (watch.linked) {
    (watch.prev != nullptr ? watch.prev->next : head_) = watch.next;
    (watch.next != nullptr ? watch.next->prev : tail_) = watch.prev;
    watch.linked = false;
    return;
  }
  // TryCancel can finish the call inline, on the watchdog's own thread,
  // which must not wait for itself.
  if (std::this_thread::get_id() == thread_.get_id()) return;
  while (cancelling_ == &watch) changed_.Wait(&mutex_);
}

void WriteWatchdog::Run() {
  absl::MutexLock lock(&mutex_);
  while (!stopping_) {
    if (head_ == nullptr) {
      changed_.Wait(&mutex_);
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (head_->deadline > now) {
      changed_.WaitWithTimeout(&mutex_,
                               absl::FromChrono(head_->deadline - now));
      continue;
    }
    Watch* expired = head_;
    head_ = expired->next;
    (head_ != nullptr ? head_->prev : tail_) = nullptr;
    expired->linked = false;
    cancelling_ = expired;
    grpc::ServerContextBase* context = expired->context;
    // Outside the lock: gRPC may finish the call (OnDone, Unwatch) inside
    // TryCancel. After it returns `expired` may be gone.
    mutex_.Unlock();
    context->TryCancel();
    if (on_timeout_) on_timeout_();
    mutex_.Lock();
    cancelling_ = nullptr;
    changed_.SignalAll();
  }
}

}  // namespace tensorops::server
