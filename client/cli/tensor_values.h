// Reading and writing single elements of a tensor of any dtype as double or
// int64, for the text formats (parsing, printing, JSON).
#ifndef TENSOROPS_CLIENT_CLI_TENSOR_VALUES_H_
#define TENSOROPS_CLIENT_CLI_TENSOR_VALUES_H_

#include <cstdint>

#include "core/tensor.h"

namespace tensorops::client {

// Element `i` as a double: exact for the floating-point dtypes (float16 and
// bfloat16 widen exactly), integers (int64 beyond 2^53 rounds) and bool
// (0 or 1).
double LoadAsDouble(const Tensor& tensor, int64_t i);

// Element `i` of an integer or bool tensor as int64 (exact). For floating
// dtypes, the value truncated toward zero (saturating; NaN gives 0).
int64_t LoadAsInt64(const Tensor& tensor, int64_t i);

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_CLI_TENSOR_VALUES_H_
