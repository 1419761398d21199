// The multithreaded CPU implementation of Backend.
#ifndef TENSOROPS_CORE_CPU_CPU_BACKEND_H_
#define TENSOROPS_CORE_CPU_CPU_BACKEND_H_

#include <tbb/task_arena.h>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "core/backend.h"

namespace tensorops {

struct CpuBackendOptions {
  // Worker threads for one operation; 0 means one per available core.
  int num_threads = 0;
};

// Runs every operation in its own oneTBB arena of num_threads threads, so the
// thread count is fixed per backend and independent of callers' threads.
// Concurrent calls share the arena. Honours the calling thread's
// CancellationScope (core/cancellation.h): a cancelled call stops its
// parallel loops between chunks and returns CANCELLED.
class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(CpuBackendOptions options = {});

  std::string_view name() const override { return "cpu"; }
  int num_threads() const { return arena_.max_concurrency(); }

  absl::StatusOr<Tensor> Zeros(DType dtype, ShapeView shape) override;
  absl::StatusOr<Tensor> Ones(DType dtype, ShapeView shape) override;
  absl::StatusOr<TopKResult> TopK(const Tensor& input,
                                  const TopKOptions& options) override;
  // Reads rows in place where the kernel can (see TopKKernelChunked).
  absl::StatusOr<TopKResult> TopKOfChunks(const ChunkedTensor& input,
                                          const TopKOptions& options) override;
  absl::StatusOr<Tensor> TopKBackward(const Tensor& grad_values,
                                      const Tensor& indices,
                                      ShapeView input_shape,
                                      int64_t dim) override;

 private:
  // Runs `kernel` in the arena, cancellable by the thread's
  // CurrentCancellation(); CANCELLED if it was cancelled before or while
  // running (then its output is incomplete).
  absl::Status RunInArena(absl::FunctionRef<void()> kernel);
  absl::StatusOr<Tensor> Filled(DType dtype, ShapeView shape, uint64_t bits);

  mutable tbb::task_arena arena_;
};

}  // namespace tensorops

#endif  // TENSOROPS_CORE_CPU_CPU_BACKEND_H_
