// The CUDA rank keys (core/cuda/device_keys.h) must order exactly like the
// CPU's order keys (core/cpu/order_keys.h): rank = cpu_key with the sign bit
// flipped for largest, and of ~cpu_key for smallest. Runs on the host.
#include "core/cuda/device_keys.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "core/cpu/order_keys.h"
#include "gtest/gtest.h"

namespace tensorops::cuda {
namespace {

template <typename Key>
auto FlipSign(Key key) {
  using Unsigned = std::make_unsigned_t<Key>;
  return static_cast<Unsigned>(static_cast<Unsigned>(key) ^
                               (Unsigned{1} << (sizeof(Key) * 8 - 1)));
}

template <DType D, typename Tag>
void ExpectSameAsCpu(typename RankTraits<Tag>::Storage bits) {
  using CpuKey = cpu::KeyTraits<D>;
  std::byte bytes[sizeof(bits)];
  std::memcpy(bytes, &bits, sizeof(bits));
  const typename CpuKey::KeyType key = CpuKey::Load(bytes);
  static_assert(sizeof(typename CpuKey::KeyType) ==
                sizeof(typename RankTraits<Tag>::Rank));
  ASSERT_EQ(RankTraits<Tag>::Of(bits, /*largest=*/true), FlipSign(key))
      << "bits 0x" << std::hex << static_cast<uint64_t>(bits);
  ASSERT_EQ(RankTraits<Tag>::Of(bits, /*largest=*/false),
            FlipSign(static_cast<typename CpuKey::KeyType>(~key)))
      << "bits 0x" << std::hex << static_cast<uint64_t>(bits);
}

TEST(DeviceKeysTest, SixteenBitFloatsMatchCpuForEveryBitPattern) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    ExpectSameAsCpu<DType::kFloat16, Float16Tag>(static_cast<uint16_t>(bits));
    ExpectSameAsCpu<DType::kBFloat16, BFloat16Tag>(static_cast<uint16_t>(bits));
    ExpectSameAsCpu<DType::kInt16, Int16Tag>(static_cast<int16_t>(bits));
  }
}

TEST(DeviceKeysTest, EightBitIntegersMatchCpuForEveryValue) {
  for (int bits = 0; bits <= 0xff; ++bits) {
    ExpectSameAsCpu<DType::kInt8, Int8Tag>(static_cast<int8_t>(bits));
    ExpectSameAsCpu<DType::kUInt8, UInt8Tag>(static_cast<uint8_t>(bits));
  }
}

TEST(DeviceKeysTest, WideTypesMatchCpuOnSpecialsAndRandomBits) {
  std::vector<uint32_t> bits32 = {0,           0x80000000u, 0x7f800000u,
                                  0xff800000u, 0x7fc00000u, 0xffc00001u,
                                  0x00000001u, 0x80000001u, 0x7f7fffffu,
                                  0xffffffffu, 0x7fffffffu};
  std::vector<uint64_t> bits64 = {0,
                                  0x8000000000000000ull,
                                  0x7ff0000000000000ull,
                                  0xfff0000000000000ull,
                                  0x7ff8000000000000ull,
                                  0xfff0000000000001ull,
                                  0x0000000000000001ull,
                                  0xffffffffffffffffull,
                                  0x7fffffffffffffffull};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    bits32.push_back(static_cast<uint32_t>(rng()));
    bits64.push_back(rng());
  }
  for (uint32_t bits : bits32) {
    ExpectSameAsCpu<DType::kFloat32, Float32Tag>(bits);
    ExpectSameAsCpu<DType::kInt32, Int32Tag>(static_cast<int32_t>(bits));
  }
  for (uint64_t bits : bits64) {
    ExpectSameAsCpu<DType::kFloat64, Float64Tag>(bits);
    ExpectSameAsCpu<DType::kInt64, Int64Tag>(static_cast<int64_t>(bits));
  }
}

}  // namespace
}  // namespace tensorops::cuda
