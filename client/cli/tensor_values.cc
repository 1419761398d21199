#include "client/cli/tensor_values.h"

#include <cmath>
#include <limits>

#include "client/cli/half_float.h"

namespace tensorops::client {

double LoadAsDouble(const Tensor& tensor, int64_t i) {
  switch (tensor.dtype()) {
    case DType::kFloat32:
      return tensor.Load<float>(i);
    case DType::kFloat64:
      return tensor.Load<double>(i);
    case DType::kFloat16:
      return HalfToFloat(tensor.Load<uint16_t>(i));
    case DType::kBFloat16:
      return BFloat16ToFloat(tensor.Load<uint16_t>(i));
    case DType::kInt8:
      return tensor.Load<int8_t>(i);
    case DType::kInt16:
      return tensor.Load<int16_t>(i);
    case DType::kInt32:
      return tensor.Load<int32_t>(i);
    case DType::kInt64:
      return static_cast<double>(tensor.Load<int64_t>(i));
    case DType::kUInt8:
      return tensor.Load<uint8_t>(i);
    case DType::kBool:
      return tensor.Load<uint8_t>(i) != 0 ? 1.0 : 0.0;
  }
  return 0;
}

int64_t LoadAsInt64(const Tensor& tensor, int64_t i) {
  switch (tensor.dtype()) {
    case DType::kInt8:
      return tensor.Load<int8_t>(i);
    case DType::kInt16:
      return tensor.Load<int16_t>(i);
    case DType::kInt32:
      return tensor.Load<int32_t>(i);
    case DType::kInt64:
      return tensor.Load<int64_t>(i);
    case DType::kUInt8:
      return tensor.Load<uint8_t>(i);
    case DType::kBool:
      return tensor.Load<uint8_t>(i) != 0 ? 1 : 0;
    default: {
      // Saturating truncation (a plain cast is undefined out of range).
      const double value = LoadAsDouble(tensor, i);
      if (std::isnan(value)) return 0;
      if (value >= 0x1p63) return std::numeric_limits<int64_t>::max();
      if (value < -0x1p63) return std::numeric_limits<int64_t>::min();
      return static_cast<int64_t>(value);
    }
  }
}

}  // namespace tensorops::client
