// The inputs of a benchmark case and one call of our implementation on them.
#ifndef TENSOROPS_BENCH_CASE_INPUTS_H_
#define TENSOROPS_BENCH_CASE_INPUTS_H_

#include "absl/status/statusor.h"
#include "bench/bench_cases.h"
#include "core/backend.h"
#include "core/tensor.h"

namespace tensorops::bench {

// What one call of a case reads. Built once per case from fixed seeds; the
// libtorch side receives copies of the same bytes.
struct CaseInputs {
  // topk: its input. topk_backward: the input the indices were taken from.
  // Fills: the `like` tensor (uninitialized; only its shape matters).
  Tensor input;
  // topk_backward: the gradient of topk's values and topk's indices (int64),
  // both of topk's output shape. Empty for the other ops.
  Tensor grad_values;
  Tensor indices;
};

// Builds the inputs of `bench_case`; topk_backward's indices come from our
// TopK on the random input. The most recent random input is kept, so
// consecutive cases of the same shape generate it once.
absl::StatusOr<CaseInputs> MakeCaseInputs(const BenchCase& bench_case,
                                          Backend& backend);

// One call of the case's operation on `backend`, the call core_bench times.
// Returns the main output: topk's or select's values (indices are built
// and dropped too),
// the gradient of the input, or the filled tensor.
absl::StatusOr<Tensor> RunOurs(const BenchCase& bench_case,
                               const CaseInputs& inputs, Backend& backend);

}  // namespace tensorops::bench

#endif  // TENSOROPS_BENCH_CASE_INPUTS_H_
