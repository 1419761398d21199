#include "core/cpu/cpu_backend.h"

#include <tbb/task_group.h>

#include <cstddef>
#include <cstring>
#include <optional>

#include "core/cancellation.h"
#include "core/cpu/fill_kernel.h"
#include "core/cpu/scatter_kernel.h"
#include "core/cpu/selection_kernel.h"
#include "core/cpu/topk_kernel.h"
#include "core/op_plans.h"
#include "core/status_macros.h"

namespace tensorops {

CpuBackend::CpuBackend(CpuBackendOptions options)
    : arena_(options.num_threads > 0 ? options.num_threads
                                     : tbb::task_arena::automatic) {}

absl::Status CpuBackend::RunInArena(absl::FunctionRef<void()> kernel) {
  Cancellation* cancellation = CurrentCancellation();
  if (cancellation == nullptr) {
    arena_.execute([&] { kernel(); });
    return absl::OkStatus();
  }
  if (cancellation->cancelled()) return CancelledComputationError();
  // The kernel's parallel loops bind to this context, so cancelling it stops
  // them from starting more chunks; other calls in the arena are unaffected.
  tbb::task_group_context context;
  const Cancellation::CallbackId subscription =
      cancellation->Subscribe([&context] { context.cancel_group_execution(); });
  tbb::task_group_status result = tbb::task_group_status::complete;
  arena_.execute([&] {
    tbb::task_group group(context);
    result = group.run_and_wait([&] { kernel(); });
  });
  cancellation->Unsubscribe(subscription);
  if (result == tbb::task_group_status::canceled ||
      context.is_group_execution_cancelled()) {
    return CancelledComputationError();
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::RunFill(uint64_t element_bits, Tensor& output) {
  std::byte value[8];
  // Little-endian: the element's bytes are the low bytes first.
  std::memcpy(value, &element_bits, sizeof(value));
  return RunInArena([&] {
    cpu::FillKernel(output.mutable_data(), output.num_elements(),
                    DTypeSize(output.dtype()), value);
  });
}

absl::Status CpuBackend::RunTopK(const Tensor& input, const TopKPlan& plan,
                                 const TopKOptions& options,
                                 TopKResult& result) {
  return RunInArena([&] {
    cpu::TopKKernel(input, plan, options.largest, options.sorted, result.values,
                    result.indices);
  });
}

absl::Status CpuBackend::RunTopKOfChunks(const ChunkedTensor& input,
                                         const TopKPlan& plan,
                                         const TopKOptions& options,
                                         TopKResult& result) {
  bool done = false;
  // Shared bytes too: the chunked kernel reads each row once, into a private
  // row buffer, instead of copying the whole input first.
  if (input.bytes().chunks().size() > 1 || input.bytes().shared()) {
    TENSOROPS_RETURN_IF_ERROR(RunInArena([&] {
      done =
          cpu::TopKKernelChunked(input, plan, options.largest, options.sorted,
                                 result.values, result.indices);
    }));
  }
  if (done) return absl::OkStatus();
  // One private chunk (a view, no copy), or a plan the chunked kernel does
  // not take (a private copy).
  TENSOROPS_ASSIGN_OR_RETURN(Tensor contiguous, input.Materialize());
  return RunTopK(contiguous, plan, options, result);
}

absl::Status CpuBackend::RunSelect(const Tensor& input,
                                   const SelectionPlan& plan,
                                   SelectionResult& result) {
  return RunInArena([&] {
    cpu::SelectionKernel(input, plan, result.values, result.indices);
  });
}

absl::Status CpuBackend::RunTopKBackward(const Tensor& grad_values,
                                         const Tensor& indices,
                                         const TopKBackwardPlan& plan,
                                         Tensor& grad_input) {
  absl::Status status;
  TENSOROPS_RETURN_IF_ERROR(RunInArena([&] {
    status = cpu::ScatterKernel(grad_values, indices, plan, grad_input);
  }));
  return status;
}

absl::Status CpuBackend::RunTopKBackwardOfChunks(
    const ChunkedTensor& grad_values, const ChunkedTensor& indices,
    const TopKBackwardPlan& plan, Tensor& grad_input) {
  const auto in_pieces = [](const ChunkedTensor& tensor) {
    return tensor.bytes().chunks().size() > 1 || tensor.bytes().shared();
  };
  std::optional<absl::Status> done;
  // Shared bytes too: the chunked kernel reads each row once, into private
  // row buffers, instead of copying the whole tensors first.
  if (in_pieces(grad_values) || in_pieces(indices)) {
    TENSOROPS_RETURN_IF_ERROR(RunInArena([&] {
      done = cpu::ScatterKernelChunked(grad_values, indices, plan, grad_input);
    }));
  }
  if (done.has_value()) return *done;
  // One private chunk each (views, no copy), or a plan the chunked kernel
  // does not take (private copies): the default.
  return Backend::RunTopKBackwardOfChunks(grad_values, indices, plan,
                                          grad_input);
}

}  // namespace tensorops
