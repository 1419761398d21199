// Element types supported by tensorops and their properties.
#ifndef TENSOROPS_CORE_DTYPE_H_
#define TENSOROPS_CORE_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"
#include "core/dtype_list.h"

namespace tensorops {

// Every dtype is stored little-endian, one element after another; bool is one
// byte per element (0 or 1), float16 is IEEE binary16, bfloat16 is the upper
// half of an IEEE binary32. The list is TENSOROPS_FOR_EACH_DTYPE
// (core/dtype_list.h): kFloat32, kFloat64, kFloat16, kBFloat16, kInt8,
// kInt16, kInt32, kInt64, kUInt8, kBool, in that order.
enum class DType : uint8_t {
#define TENSOROPS_DTYPE_ENUMERATOR_(enumerator, ...) enumerator,
  TENSOROPS_FOR_EACH_DTYPE(TENSOROPS_DTYPE_ENUMERATOR_)
#undef TENSOROPS_DTYPE_ENUMERATOR_
};

inline constexpr DType kAllDTypes[] = {
#define TENSOROPS_DTYPE_ENTRY_(enumerator, ...) DType::enumerator,
    TENSOROPS_FOR_EACH_DTYPE(TENSOROPS_DTYPE_ENTRY_)
#undef TENSOROPS_DTYPE_ENTRY_
};

// Size of one element in bytes.
size_t DTypeSize(DType dtype);

// PyTorch's name for the dtype, e.g. "float32", "bfloat16", "bool".
absl::string_view DTypeName(DType dtype);

// Inverse of DTypeName; nullopt for unknown names.
std::optional<DType> DTypeFromName(absl::string_view name);

// True for float32, float64, float16 and bfloat16.
bool IsFloatingPoint(DType dtype);

// DTypeTraits<D>: dtype D's properties at compile time. Element is the C++
// type of one element as stored (float16 and bfloat16 give their bits as
// uint16_t, bool gives bool), e.g. for Tensor::Load<ElementType<D>>(i) or a
// switch over TENSOROPS_FOR_EACH_DTYPE that handles each type.
template <DType D>
struct DTypeTraits;

#define TENSOROPS_DTYPE_TRAITS_(enumerator, torch_name, element_type, size, \
                                is_floating_point)                          \
  template <>                                                               \
  struct DTypeTraits<DType::enumerator> {                                   \
    using Element = element_type;                                           \
    static constexpr size_t kSize = size;                                   \
    static constexpr bool kIsFloatingPoint = is_floating_point;             \
    static constexpr absl::string_view kName = torch_name;                  \
    static_assert(sizeof(Element) == kSize);                                \
  };
TENSOROPS_FOR_EACH_DTYPE(TENSOROPS_DTYPE_TRAITS_)
#undef TENSOROPS_DTYPE_TRAITS_

// The C++ element type of dtype D (DTypeTraits<D>::Element).
template <DType D>
using ElementType = typename DTypeTraits<D>::Element;

}  // namespace tensorops

#endif  // TENSOROPS_CORE_DTYPE_H_
