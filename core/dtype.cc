#include "core/dtype.h"

namespace tensorops {

// Each switch below covers every dtype (TENSOROPS_FOR_EACH_DTYPE), so that
// -Wswitch names any case a new dtype leaves out.

size_t DTypeSize(DType dtype) {
  switch (dtype) {
#define TENSOROPS_DTYPE_SIZE_(enumerator, name, type, size, ...) \
  case DType::enumerator:                                        \
    return size;
    TENSOROPS_FOR_EACH_DTYPE(TENSOROPS_DTYPE_SIZE_)
#undef TENSOROPS_DTYPE_SIZE_
  }
  return 0;
}

absl::string_view DTypeName(DType dtype) {
  switch (dtype) {
#define TENSOROPS_DTYPE_NAME_(enumerator, name, ...) \
  case DType::enumerator:                            \
    return name;
    TENSOROPS_FOR_EACH_DTYPE(TENSOROPS_DTYPE_NAME_)
#undef TENSOROPS_DTYPE_NAME_
  }
  return "unknown";
}

std::optional<DType> DTypeFromName(absl::string_view name) {
  for (DType dtype : kAllDTypes) {
    if (DTypeName(dtype) == name) return dtype;
  }
  return std::nullopt;
}

bool IsFloatingPoint(DType dtype) {
  switch (dtype) {
#define TENSOROPS_DTYPE_IS_FLOAT_(enumerator, name, type, size, is_float) \
  case DType::enumerator:                                                 \
    return is_float;
    TENSOROPS_FOR_EACH_DTYPE(TENSOROPS_DTYPE_IS_FLOAT_)
#undef TENSOROPS_DTYPE_IS_FLOAT_
  }
  return false;
}

}  // namespace tensorops
