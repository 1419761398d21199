#include "bench/random_tensor.h"

#include <cstring>
#include <random>
#include <utility>

#include "core/status_macros.h"

namespace tensorops::bench {

absl::StatusOr<Tensor> RandomNormalFloat32(Shape shape, uint64_t seed) {
  TENSOROPS_ASSIGN_OR_RETURN(
      Tensor tensor, Tensor::Allocate(DType::kFloat32, std::move(shape)));
  std::mt19937_64 generator(seed);
  std::normal_distribution<float> normal;
  std::byte* out = tensor.mutable_data();
  for (int64_t i = 0; i < tensor.num_elements(); ++i) {
    const float value = normal(generator);
    std::memcpy(out + i * sizeof(float), &value, sizeof(float));
  }
  return tensor;
}

}  // namespace tensorops::bench
