#include "core/half_float.h"

#include <cmath>
#include <cstdint>

#include "gtest/gtest.h"

namespace tensorops {
namespace {

// Every 16-bit pattern widens exactly and narrows back to itself.
TEST(HalfFloatTest, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const float value = HalfToFloat(static_cast<uint16_t>(bits));
    if (std::isnan(value)) {
      EXPECT_EQ(bits & 0x7c00, 0x7c00u);
      EXPECT_NE(bits & 0x03ff, 0u);
      continue;
    }
    EXPECT_EQ(FloatToHalf(value), bits) << std::hex << bits;
  }
}

TEST(HalfFloatTest, EveryBFloat16RoundTripsThroughFloat) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const float value = BFloat16ToFloat(static_cast<uint16_t>(bits));
    if (std::isnan(value)) continue;  // checked below
    EXPECT_EQ(FloatToBFloat16(value), bits) << std::hex << bits;
  }
  EXPECT_EQ(FloatToBFloat16(NAN), 0x7fc0);
}

TEST(HalfFloatTest, KnownValues) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // rounds to inf
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(BFloat16ToFloat(0x3f80), 1.0f);
}

}  // namespace
}  // namespace tensorops
