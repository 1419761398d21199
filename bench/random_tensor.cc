#include "bench/random_tensor.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
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

absl::StatusOr<Tensor> ConvertNormal(const Tensor& normal, DType dtype) {
  TENSOROPS_ASSIGN_OR_RETURN(Tensor out,
                             Tensor::Allocate(dtype, normal.shape()));
  const std::byte* in = normal.data();
  std::byte* bytes = out.mutable_data();
  const int64_t count = normal.num_elements();
  auto convert = [&]<typename T>(auto to_element) {
    for (int64_t i = 0; i < count; ++i) {
      float value;
      std::memcpy(&value, in + i * sizeof(float), sizeof(float));
      const T element = to_element(value);
      std::memcpy(bytes + i * sizeof(T), &element, sizeof(T));
    }
  };
  constexpr float kIntegerScale = 1 << 20;
  switch (dtype) {
    case DType::kFloat32:
      convert.operator()<float>([](float value) { return value; });
      break;
    case DType::kBFloat16:
      convert.operator()<uint16_t>([](float value) {
        uint32_t bits;
        std::memcpy(&bits, &value, sizeof(bits));
        return static_cast<uint16_t>(bits >> 16);
      });
      break;
    case DType::kFloat16:
      // The compiler's conversion rounds to nearest even, as PyTorch's.
      convert.operator()<uint16_t>([](float value) {
        const _Float16 half = static_cast<_Float16>(value);
        uint16_t bits;
        std::memcpy(&bits, &half, sizeof(bits));
        return bits;
      });
      break;
    case DType::kInt32:
      convert.operator()<int32_t>([&](float value) {
        return static_cast<int32_t>(value * kIntegerScale);
      });
      break;
    case DType::kInt64:
      convert.operator()<int64_t>([&](float value) {
        return static_cast<int64_t>(value * kIntegerScale);
      });
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("no benchmark input of dtype ", DTypeName(dtype)));
  }
  return out;
}

}  // namespace tensorops::bench
