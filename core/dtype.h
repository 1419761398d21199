// Element types supported by tensorops and their properties.
#ifndef TENSOROPS_CORE_DTYPE_H_
#define TENSOROPS_CORE_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace tensorops {

// Every dtype is stored little-endian, one element after another; bool is one
// byte per element (0 or 1), float16 is IEEE binary16, bfloat16 is the upper
// half of an IEEE binary32.
enum class DType : uint8_t {
  kFloat32,
  kFloat64,
  kFloat16,
  kBFloat16,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kBool,
};

inline constexpr DType kAllDTypes[] = {
    DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
    DType::kInt8,    DType::kInt16,   DType::kInt32,   DType::kInt64,
    DType::kUInt8,   DType::kBool};

// Size of one element in bytes.
size_t DTypeSize(DType dtype);

// PyTorch's name for the dtype, e.g. "float32", "bfloat16", "bool".
absl::string_view DTypeName(DType dtype);

// Inverse of DTypeName; nullopt for unknown names.
std::optional<DType> DTypeFromName(absl::string_view name);

// True for float32, float64, float16 and bfloat16.
bool IsFloatingPoint(DType dtype);

}  // namespace tensorops

#endif  // TENSOROPS_CORE_DTYPE_H_
