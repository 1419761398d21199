// Where the service runs compute, away from gRPC's event threads.
#ifndef TENSOROPS_SERVER_EXECUTOR_H_
#define TENSOROPS_SERVER_EXECUTOR_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace tensorops::server {

class Executor {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  virtual ~Executor() = default;

  // Runs `task` soon on some other thread. Never blocks on the task.
  virtual void Submit(Task task) = 0;
};

// A fixed set of threads taking tasks first in, first out. The threads only
// call into the backend, which runs the heavy lifting in its own TBB arena;
// they exist so that gRPC's callback threads never wait for compute.
class ThreadPoolExecutor final : public Executor {
 public:
  explicit ThreadPoolExecutor(int num_threads);
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;
  // Runs every task already submitted, then joins the threads.
  ~ThreadPoolExecutor() override;

  void Submit(Task task) override;
  int num_threads() const { return static_cast<int>(threads_.size()); }

 private:
  void WorkerLoop();

  absl::Mutex mutex_;
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_EXECUTOR_H_
