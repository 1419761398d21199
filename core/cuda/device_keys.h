// Order-preserving unsigned "rank keys" for the CUDA topk, usable on host and
// device. They replicate core/cpu/order_keys.h (which is host-only) and are
// checked against it bit for bit by tests/cuda/device_keys_test.cc.
//
// A rank key is an unsigned integer where a larger key is a better element:
// for largest=true it orders like the value (NaN above +inf, -0 == +0); for
// largest=false it is the bitwise complement, which reverses the order and
// sends NaN to the bottom, as the CPU does with ~key.
#ifndef TENSOROPS_CORE_CUDA_DEVICE_KEYS_H_
#define TENSOROPS_CORE_CUDA_DEVICE_KEYS_H_

#include <cstdint>

#if defined(__CUDACC__)
#define TENSOROPS_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define TENSOROPS_HOST_DEVICE inline
#endif

namespace tensorops::cuda {

// Sign-magnitude float bits -> signed key (CPU's FloatKey), then to unsigned
// by flipping the sign bit, which keeps the order.
template <typename Bits, typename Key, typename Rank>
TENSOROPS_HOST_DEVICE Rank FloatRankKey(Bits bits, Bits magnitude_mask,
                                        Bits infinity, Key key_max,
                                        bool largest) {
  const Key magnitude = static_cast<Key>(bits & magnitude_mask);
  Key key = (bits & ~magnitude_mask) ? -magnitude : magnitude;
  if (magnitude > static_cast<Key>(infinity)) key = key_max;  // any NaN
  constexpr Rank kSignBit = Rank{1} << (sizeof(Rank) * 8 - 1);
  const Rank rank = static_cast<Rank>(key) ^ kSignBit;
  return largest ? rank : static_cast<Rank>(~rank);
}

template <typename Key, typename Rank>
TENSOROPS_HOST_DEVICE Rank IntegerRankKey(Key key, bool largest) {
  constexpr Rank kSignBit = Rank{1} << (sizeof(Rank) * 8 - 1);
  const Rank rank = static_cast<Rank>(key) ^ kSignBit;
  return largest ? rank : static_cast<Rank>(~rank);
}

// RankTraits<Tag>::Of(element as stored, largest). `Tag` names the dtype,
// since float16 and bfloat16 share their uint16 storage.
struct Float32Tag {};
struct Float64Tag {};
struct Float16Tag {};
struct BFloat16Tag {};
struct Int8Tag {};
struct Int16Tag {};
struct Int32Tag {};
struct Int64Tag {};
struct UInt8Tag {};

template <typename Tag>
struct RankTraits;

// A float dtype stored as Bits (its IEEE bits), ranked through a signed Key
// and an unsigned Rank of the key's width.
template <typename Bits, typename Key, typename R, Bits kMagnitudeMask,
          Bits kInfinity, Key kKeyMax>
struct FloatRankTraits {
  using Storage = Bits;
  using Rank = R;
  static TENSOROPS_HOST_DEVICE Rank Of(Storage bits, bool largest) {
    return FloatRankKey<Bits, Key, Rank>(bits, kMagnitudeMask, kInfinity,
                                         kKeyMax, largest);
  }
};
template <>
struct RankTraits<Float32Tag>
    : FloatRankTraits<uint32_t, int32_t, uint32_t, 0x7fffffffu, 0x7f800000u,
                      INT32_MAX> {};
template <>
struct RankTraits<Float64Tag>
    : FloatRankTraits<uint64_t, int64_t, uint64_t, 0x7fffffffffffffffull,
                      0x7ff0000000000000ull, INT64_MAX> {};
template <>
struct RankTraits<Float16Tag>
    : FloatRankTraits<uint16_t, int32_t, uint32_t, 0x7fff, 0x7c00, INT32_MAX> {
};
template <>
struct RankTraits<BFloat16Tag>
    : FloatRankTraits<uint16_t, int32_t, uint32_t, 0x7fff, 0x7f80, INT32_MAX> {
};

template <typename T, typename Key, typename R>
struct IntegerRankTraits {
  using Storage = T;
  using Rank = R;
  static TENSOROPS_HOST_DEVICE Rank Of(Storage value, bool largest) {
    return IntegerRankKey<Key, Rank>(static_cast<Key>(value), largest);
  }
};
template <>
struct RankTraits<Int8Tag> : IntegerRankTraits<int8_t, int32_t, uint32_t> {};
template <>
struct RankTraits<Int16Tag> : IntegerRankTraits<int16_t, int32_t, uint32_t> {};
template <>
struct RankTraits<Int32Tag> : IntegerRankTraits<int32_t, int32_t, uint32_t> {};
template <>
struct RankTraits<Int64Tag> : IntegerRankTraits<int64_t, int64_t, uint64_t> {};
template <>
struct RankTraits<UInt8Tag> : IntegerRankTraits<uint8_t, int32_t, uint32_t> {};

}  // namespace tensorops::cuda

#endif  // TENSOROPS_CORE_CUDA_DEVICE_KEYS_H_
