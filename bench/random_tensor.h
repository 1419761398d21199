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

}  // namespace tensorops::bench

#endif  // TENSOROPS_BENCH_RANDOM_TENSOR_H_
