// Deterministic random input data, identical for every implementation.
#ifndef TENSOROPS_BENCH_RANDOM_TENSOR_H_
#define TENSOROPS_BENCH_RANDOM_TENSOR_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace tensorops::bench {

// A float32 tensor of standard-normal values drawn from a generator seeded
// with `seed`: the same seed and shape give the same bytes on every run.
absl::StatusOr<Tensor> RandomNormalFloat32(Shape shape, uint64_t seed);

// `normal` (float32) as `dtype`, for the other dtypes' cases: bfloat16 keeps
// each value's upper 16 bits; int32 and int64 take value * 2^20, truncated;
// float32 is a copy. Other dtypes are INVALID_ARGUMENT.
absl::StatusOr<Tensor> ConvertNormal(const Tensor& normal, DType dtype);

}  // namespace tensorops::bench

#endif  // TENSOROPS_BENCH_RANDOM_TENSOR_H_
