// The libtorch side of each benchmark case (built only with libtorch).
#ifndef TENSOROPS_BENCH_TORCH_OPS_H_
#define TENSOROPS_BENCH_TORCH_OPS_H_

#include <ATen/ATen.h>

#include "absl/status/statusor.h"
#include "bench/bench_cases.h"
#include "bench/case_inputs.h"
#include "core/tensor.h"

namespace tensorops::bench {

// CaseInputs as libtorch tensors: copies of the same bytes, owned by torch.
struct TorchInputs {
  at::Tensor input;
  at::Tensor grad_values;
  at::Tensor indices;
};

// A contiguous libtorch tensor holding a copy of `tensor` (float32 or int64;
// INVALID_ARGUMENT for other dtypes).
absl::StatusOr<at::Tensor> ToTorch(const Tensor& tensor);

// The libtorch copy of `inputs` for `bench_case`. The `like` tensor of the
// fills is at::empty, as ours is uninitialized.
absl::StatusOr<TorchInputs> ToTorchInputs(const BenchCase& bench_case,
                                          const CaseInputs& inputs);

// One call of the case's operation in libtorch, the call core_bench times:
// at::topk (returning its values), topk's autograd backward
// at::zeros(shape, grad.options()).scatter_(dim, indices, grad), or
// at::zeros_like / at::ones_like, or the selection op's values
// (at::sort, at::kthvalue, at::max, at::min, at::median). libtorch's exceptions
// become INTERNAL.
absl::StatusOr<at::Tensor> RunTorch(const BenchCase& bench_case,
                                    const TorchInputs& inputs);

// OK when `ours` and `theirs` have the same shape and identical bytes;
// otherwise INTERNAL naming the shapes, or the number of differing elements
// and the first of them with both values.
absl::Status CompareWithTorch(const Tensor& ours, const at::Tensor& theirs);

}  // namespace tensorops::bench

#endif  // TENSOROPS_BENCH_TORCH_OPS_H_
