// The list of dtypes, as X-macros: the one place a dtype is added. Plain
// preprocessor, with no includes, so that CUDA code (core/cuda/kernels.h)
// can expand it without parsing Abseil; core/dtype.h derives the DType enum
// and its properties from it.
#ifndef TENSOROPS_CORE_DTYPE_LIST_H_
#define TENSOROPS_CORE_DTYPE_LIST_H_

// TENSOROPS_FOR_EACH_DTYPE(X) expands X once per dtype, in DType's order:
//
//   X(enumerator, name, element_type, size, is_floating_point)
//
//   enumerator         the DType enumerator, e.g. kFloat32 (DType::kFloat32)
//   name               PyTorch's name, a string literal, e.g. "float32"
//   element_type       the C++ type of one element as stored: float16 and
//                      bfloat16 are their bits (uint16_t), bool is bool (one
//                      byte, 0 or 1); needs <cstdint> where it is used
//   size               bytes per element, an integer literal
//   is_floating_point  true or false
//
// TENSOROPS_FOR_EACH_NUMERIC_DTYPE(X) expands X for the same list without
// bool: the dtypes with an order and arithmetic (those topk accepts).
#define TENSOROPS_FOR_EACH_DTYPE(X) TENSOROPS_DTYPE_LIST_(X, X)
#define TENSOROPS_FOR_EACH_NUMERIC_DTYPE(X) \
  TENSOROPS_DTYPE_LIST_(X, TENSOROPS_DTYPE_SKIP_)

// The list itself: numeric dtypes call NUMERIC, the others OTHER. The order
// is the enum's: add a dtype at the end (after kBool), whichever kind.
#define TENSOROPS_DTYPE_LIST_(NUMERIC, OTHER)       \
  NUMERIC(kFloat32, "float32", float, 4, true)      \
  NUMERIC(kFloat64, "float64", double, 8, true)     \
  NUMERIC(kFloat16, "float16", uint16_t, 2, true)   \
  NUMERIC(kBFloat16, "bfloat16", uint16_t, 2, true) \
  NUMERIC(kInt8, "int8", int8_t, 1, false)          \
  NUMERIC(kInt16, "int16", int16_t, 2, false)       \
  NUMERIC(kInt32, "int32", int32_t, 4, false)       \
  NUMERIC(kInt64, "int64", int64_t, 8, false)       \
  NUMERIC(kUInt8, "uint8", uint8_t, 1, false)       \
  OTHER(kBool, "bool", bool, 1, false)

#define TENSOROPS_DTYPE_SKIP_(...)

#endif  // TENSOROPS_CORE_DTYPE_LIST_H_
