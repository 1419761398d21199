#include "client/cli/tensor_values.h"

#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>

#include "core/dtype_list.h"
#include "core/half_float.h"

namespace tensorops::client {
namespace {

// Element `i` of an integer or bool tensor, exactly; nullopt for the
// floating-point dtypes.
std::optional<int64_t> LoadInteger(const Tensor& tensor, int64_t i) {
  switch (tensor.dtype()) {
#define TENSOROPS_LOAD_INTEGER_(enumerator, name, type, size, is_float) \
  case DType::enumerator:                                               \
    if constexpr (is_float) {                                           \
      return std::nullopt;                                              \
    } else if constexpr (std::is_same_v<type, bool>) {                  \
      return tensor.Load<uint8_t>(i) != 0 ? 1 : 0; /* any byte */       \
    } else {                                                            \
      return static_cast<int64_t>(tensor.Load<type>(i));                \
    }
    TENSOROPS_FOR_EACH_DTYPE(TENSOROPS_LOAD_INTEGER_)
#undef TENSOROPS_LOAD_INTEGER_
  }
  return std::nullopt;
}

}  // namespace

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
    default:
      return static_cast<double>(LoadInteger(tensor, i).value_or(0));
  }
}

int64_t LoadAsInt64(const Tensor& tensor, int64_t i) {
  if (const std::optional<int64_t> integer = LoadInteger(tensor, i)) {
    return *integer;
  }
  // Saturating truncation (a plain cast is undefined out of range).
  const double value = LoadAsDouble(tensor, i);
  if (std::isnan(value)) return 0;
  if (value >= 0x1p63) return std::numeric_limits<int64_t>::max();
  if (value < -0x1p63) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(value);
}

}  // namespace tensorops::client
