// Order-preserving integer keys for every dtype: topk's numeric ones, and
// bool for the selection kernels (sort, max, min).
#ifndef TENSOROPS_CORE_CPU_ORDER_KEYS_H_
#define TENSOROPS_CORE_CPU_ORDER_KEYS_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/dtype.h"

namespace tensorops::cpu {

// Each KeyTraits<D>::Load(p) reads one element of dtype D at `p` (any
// alignment) and returns a signed integer whose order is topk's order for
// largest=true: every NaN maps to the maximum key (above +inf) and -0.0 maps to
// the key of +0.0. For largest=false the selector uses ~key, which reverses
// the order and sends NaN to the bottom, as PyTorch does.
//
// Floats become sign-magnitude integers: key = sign ? -magnitude : magnitude,
// with magnitude the bits below the sign, which orders them exactly as the
// values and makes both zeros 0.
template <typename T>
T LoadUnaligned(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

template <typename Bits, typename Key, Bits kMagnitudeMask, Bits kInfinity>
struct FloatKey {
  using KeyType = Key;
  static constexpr size_t kSize = sizeof(Bits);
  // Whether the maximum key stands for NaN (rather than for a value).
  static constexpr bool kHasNaN = true;
  static Key Load(const std::byte* p) {
    const Bits bits = LoadUnaligned<Bits>(p);
    const Key magnitude = static_cast<Key>(bits & kMagnitudeMask);
    const Key signed_key = (bits & ~kMagnitudeMask) ? -magnitude : magnitude;
    return magnitude > static_cast<Key>(kInfinity)
               ? std::numeric_limits<Key>::max()
               : signed_key;
  }
};

template <typename T, typename Key>
struct IntegerKey {
  using KeyType = Key;
  static constexpr size_t kSize = sizeof(T);
  static constexpr bool kHasNaN = false;
  static Key Load(const std::byte* p) {
    return static_cast<Key>(LoadUnaligned<T>(p));
  }
};

// bool orders false < true; any nonzero byte is true.
struct BoolKey {
  using KeyType = int32_t;
  static constexpr size_t kSize = 1;
  static constexpr bool kHasNaN = false;
  static int32_t Load(const std::byte* p) {
    return LoadUnaligned<uint8_t>(p) != 0 ? 1 : 0;
  }
};

template <DType D>
struct KeyTraits;
template <>
struct KeyTraits<DType::kFloat32>
    : FloatKey<uint32_t, int32_t, 0x7fffffffu, 0x7f800000u> {};
template <>
struct KeyTraits<DType::kFloat64>
    : FloatKey<uint64_t, int64_t, 0x7fffffffffffffffull,
               0x7ff0000000000000ull> {};
template <>
struct KeyTraits<DType::kFloat16>
    : FloatKey<uint16_t, int32_t, 0x7fff, 0x7c00> {};
template <>
struct KeyTraits<DType::kBFloat16>
    : FloatKey<uint16_t, int32_t, 0x7fff, 0x7f80> {};
template <>
struct KeyTraits<DType::kInt8> : IntegerKey<int8_t, int32_t> {};
template <>
struct KeyTraits<DType::kInt16> : IntegerKey<int16_t, int32_t> {};
template <>
struct KeyTraits<DType::kInt32> : IntegerKey<int32_t, int32_t> {};
template <>
struct KeyTraits<DType::kInt64> : IntegerKey<int64_t, int64_t> {};
template <>
struct KeyTraits<DType::kUInt8> : IntegerKey<uint8_t, int32_t> {};
template <>
struct KeyTraits<DType::kBool> : BoolKey {};

}  // namespace tensorops::cpu

#endif  // TENSOROPS_CORE_CPU_ORDER_KEYS_H_
