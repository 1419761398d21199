#include "core/cpu/cpu_backend.h"

#include <tbb/task_group.h>

#include <cstring>
#include <utility>

#include "core/cancellation.h"
#include "core/cpu/fill_kernel.h"
#include "core/cpu/scatter_kernel.h"
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

absl::StatusOr<Tensor> CpuBackend::Filled(DType dtype, ShapeView shape,
                                          uint64_t bits) {
  TENSOROPS_ASSIGN_OR_RETURN(
      Tensor output,
      Tensor::Allocate(dtype, Shape(shape.begin(), shape.end())));
  std::byte value[8];
  std::memcpy(value, &bits, sizeof(value));  // little-endian low bytes first
  TENSOROPS_RETURN_IF_ERROR(RunInArena([&] {
    cpu::FillKernel(output.mutable_data(), output.num_elements(),
                    DTypeSize(dtype), value);
  }));
  return output;
}

absl::StatusOr<Tensor> CpuBackend::Zeros(DType dtype, ShapeView shape) {
  return Filled(dtype, shape, 0);
}

absl::StatusOr<Tensor> CpuBackend::Ones(DType dtype, ShapeView shape) {
  return Filled(dtype, shape, cpu::OneBits(dtype));
}

absl::StatusOr<TopKResult> CpuBackend::TopK(const Tensor& input,
                                            const TopKOptions& options) {
  TENSOROPS_ASSIGN_OR_RETURN(TopKPlan plan,
                             PlanTopK(input.dtype(), input.shape(), options));
  TENSOROPS_ASSIGN_OR_RETURN(TopKResult result,
                             AllocateTopKResult(input.dtype(), plan));
  TENSOROPS_RETURN_IF_ERROR(RunInArena([&] {
    cpu::TopKKernel(input, plan, options.largest, options.sorted, result.values,
                    result.indices);
  }));
  return result;
}

absl::StatusOr<TopKResult> CpuBackend::TopKOfChunks(
    const ChunkedTensor& input, const TopKOptions& options) {
  TENSOROPS_ASSIGN_OR_RETURN(TopKPlan plan,
                             PlanTopK(input.dtype(), input.shape(), options));
  TENSOROPS_ASSIGN_OR_RETURN(TopKResult result,
                             AllocateTopKResult(input.dtype(), plan));
  bool done = false;
  if (input.bytes().chunks().size() > 1) {
    TENSOROPS_RETURN_IF_ERROR(RunInArena([&] {
      done =
          cpu::TopKKernelChunked(input, plan, options.largest, options.sorted,
                                 result.values, result.indices);
    }));
  }
  if (done) return result;
  // One chunk (a view, no copy), or a plan the chunked kernel does not take.
  TENSOROPS_ASSIGN_OR_RETURN(Tensor contiguous, input.Materialize());
  TENSOROPS_RETURN_IF_ERROR(RunInArena([&] {
    cpu::TopKKernel(contiguous, plan, options.largest, options.sorted,
                    result.values, result.indices);
  }));
  return result;
}

absl::StatusOr<Tensor> CpuBackend::TopKBackward(const Tensor& grad_values,
                                                const Tensor& indices,
                                                ShapeView input_shape,
                                                int64_t dim) {
  TENSOROPS_ASSIGN_OR_RETURN(
      TopKBackwardPlan plan,
      PlanTopKBackward(grad_values.dtype(), grad_values.shape(),
                       indices.dtype(), indices.shape(), input_shape, dim));
  TENSOROPS_ASSIGN_OR_RETURN(
      Tensor grad_input,
      Tensor::Allocate(grad_values.dtype(), plan.output_shape));
  absl::Status status;
  TENSOROPS_RETURN_IF_ERROR(RunInArena([&] {
    status = cpu::ScatterKernel(grad_values, indices, plan, grad_input);
  }));
  TENSOROPS_RETURN_IF_ERROR(status);
  return grad_input;
}

}  // namespace tensorops
