// Cancels calls whose client does not take their response in time.
//
// gRPC holds a response until its client's HTTP/2 flow-control window lets
// it out; a client that stops reading (or never sends WINDOW_UPDATE) would
// hold the response's memory, and the call's in-flight slot, for as long as
// its connection lives. Each call is watched from the moment its response is
// handed to gRPC until gRPC is done with it (OnDone); one still unfinished
// after the timeout is cancelled (ServerContext::TryCancel), which makes
// gRPC drop the response and finish the call.
#ifndef TENSOROPS_SERVER_WRITE_WATCHDOG_H_
#define TENSOROPS_SERVER_WRITE_WATCHDOG_H_

#include <grpcpp/server_context.h>

#include <chrono>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tensorops::server {

class WriteWatchdog {
 public:
  // A watched call's place in the watchdog's list; lives in the call.
  class Watch {
   private:
    friend class WriteWatchdog;
    grpc::ServerContextBase* context = nullptr;
    // Monotonic: a step of the wall clock must not cancel writes early.
    std::chrono::steady_clock::time_point deadline;
    Watch* prev = nullptr;
    Watch* next = nullptr;
    bool linked = false;
  };

  // `on_timeout` runs (on the watchdog's thread) for every call it cancels.
  WriteWatchdog(absl::Duration timeout, std::function<void()> on_timeout);
  WriteWatchdog(const WriteWatchdog&) = delete;
  WriteWatchdog& operator=(const WriteWatchdog&) = delete;
  // Stops the thread; nothing may be watched any more.
  ~WriteWatchdog();

  absl::Duration timeout() const { return timeout_; }

  // Starts watching the call of `context`: call just before handing its
  // response to gRPC. `watch` must stay alive until Unwatch.
  void Start(Watch& watch, grpc::ServerContextBase* context);

  // Stops watching (call from OnDone, before the context goes). If the
  // watchdog is cancelling this call at that moment on its own thread,
  // waits until it is done, so the context outlives TryCancel.
  void Unwatch(Watch& watch);

 private:
  void Run();

  const absl::Duration timeout_;
  const std::function<void()> on_timeout_;
  absl::Mutex mutex_;
  absl::CondVar changed_;
  // Watched calls in deadline order: the timeout is the same for all, so
  // that is the order they started in.
  Watch* head_ ABSL_GUARDED_BY(mutex_) = nullptr;
  Watch* tail_ ABSL_GUARDED_BY(mutex_) = nullptr;
  // The call being cancelled outside the lock, if any.
  Watch* cancelling_ ABSL_GUARDED_BY(mutex_) = nullptr;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_WRITE_WATCHDOG_H_
