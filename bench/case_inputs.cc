#include "bench/case_inputs.h"

#include <utility>

#include "bench/random_tensor.h"
#include "core/status_macros.h"

namespace tensorops::bench {
namespace {

constexpr uint64_t kInputSeed = 20240601;
constexpr uint64_t kGradSeed = 7;

// Generating the largest input takes seconds; topk, its backward and the
// dim=0 variant share a shape and run one after the other.
absl::StatusOr<Tensor> SharedRandomInput(const Shape& shape) {
  static Shape cached_shape;
  static Tensor cached_input;
  if (cached_shape != shape || cached_input.num_elements() == 0) {
    cached_input = Tensor();  // free the old one before allocating the next
    TENSOROPS_ASSIGN_OR_RETURN(cached_input,
                               RandomNormalFloat32(shape, kInputSeed));
    cached_shape = shape;
  }
  return cached_input;
}

// The shared input as `dtype` (the float32 one itself for float32), kept
// while consecutive cases ask for the same shape and dtype.
absl::StatusOr<Tensor> SharedRandomInputAs(const Shape& shape, DType dtype) {
  TENSOROPS_ASSIGN_OR_RETURN(Tensor normal, SharedRandomInput(shape));
  if (dtype == DType::kFloat32) return normal;
  static Tensor cached_converted;
  if (cached_converted.shape() != shape || cached_converted.dtype() != dtype ||
      cached_converted.num_elements() == 0) {
    cached_converted = Tensor();
    TENSOROPS_ASSIGN_OR_RETURN(cached_converted, ConvertNormal(normal, dtype));
  }
  return cached_converted;
}

}  // namespace

absl::StatusOr<CaseInputs> MakeCaseInputs(const BenchCase& bench_case,
                                          Backend& backend) {
  CaseInputs inputs;
  switch (bench_case.op) {
    case BenchOp::kTopK:
    case BenchOp::kSelect: {
      TENSOROPS_ASSIGN_OR_RETURN(
          inputs.input,
          SharedRandomInputAs(bench_case.shape, bench_case.dtype));
      break;
    }
    case BenchOp::kTopKBackward: {
      TENSOROPS_ASSIGN_OR_RETURN(inputs.input,
                                 SharedRandomInput(bench_case.shape));
      TENSOROPS_ASSIGN_OR_RETURN(
          TopKResult topk, backend.TopK(inputs.input, {.k = bench_case.k,
                                                       .dim = bench_case.dim}));
      inputs.indices = std::move(topk.indices);
      TENSOROPS_ASSIGN_OR_RETURN(
          inputs.grad_values,
          RandomNormalFloat32(topk.values.shape(), kGradSeed));
      break;
    }
    case BenchOp::kZerosLike:
    case BenchOp::kOnesLike: {
      TENSOROPS_ASSIGN_OR_RETURN(
          inputs.input, Tensor::Allocate(DType::kFloat32, bench_case.shape));
      break;
    }
  }
  return inputs;
}

absl::StatusOr<Tensor> RunOurs(const BenchCase& bench_case,
                               const CaseInputs& inputs, Backend& backend) {
  switch (bench_case.op) {
    case BenchOp::kTopK: {
      TENSOROPS_ASSIGN_OR_RETURN(
          TopKResult topk, backend.TopK(inputs.input, {.k = bench_case.k,
                                                       .dim = bench_case.dim}));
      return std::move(topk.values);
    }
    case BenchOp::kTopKBackward:
      return backend.TopKBackward(inputs.grad_values, inputs.indices,
                                  bench_case.shape, bench_case.dim);
    case BenchOp::kZerosLike:
      return ZerosLike(backend, inputs.input);
    case BenchOp::kOnesLike:
      return OnesLike(backend, inputs.input);
    case BenchOp::kSelect: {
      TENSOROPS_ASSIGN_OR_RETURN(
          SelectionResult selection,
          backend.Select(inputs.input, bench_case.selection));
      return std::move(selection.values);
    }
  }
  return absl::InternalError("unknown benchmark op");
}

}  // namespace tensorops::bench
