// The multithreaded CPU implementation of Backend.
#ifndef TENSOROPS_CORE_CPU_CPU_BACKEND_H_
#define TENSOROPS_CORE_CPU_CPU_BACKEND_H_

#include <tbb/task_arena.h>

#include <cstdint>
#include <string_view>

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

 protected:
  absl::Status RunFill(uint64_t element_bits, Tensor& output) override;
  absl::Status RunTopK(const Tensor& input, const TopKPlan& plan,
                       const TopKOptions& options, TopKResult& result) override;
  // Reads rows in place where the kernel can (see TopKKernelChunked).
  absl::Status RunTopKOfChunks(const ChunkedTensor& input, const TopKPlan& plan,
                               const TopKOptions& options,
                               TopKResult& result) override;
  absl::Status RunSelect(const Tensor& input, const SelectionPlan& plan,
                         SelectionResult& result) override;
  absl::Status RunTopKBackward(const Tensor& grad_values, const Tensor& indices,
                               const TopKBackwardPlan& plan,
                               Tensor& grad_input) override;
  // Reads rows in place where the kernel can (see ScatterKernelChunked).
  absl::Status RunTopKBackwardOfChunks(const ChunkedTensor& grad_values,
                                       const ChunkedTensor& indices,
                                       const TopKBackwardPlan& plan,
                                       Tensor& grad_input) override;

 private:
  // Runs `kernel` in the arena, cancellable by the thread's
  // CurrentCancellation(); CANCELLED if it was cancelled before or while
  // running (then its output is incomplete).
  absl::Status RunInArena(absl::FunctionRef<void()> kernel);

  mutable tbb::task_arena arena_;
};

}  // namespace tensorops

#endif  // TENSOROPS_CORE_CPU_CPU_BACKEND_H_
