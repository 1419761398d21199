// Conversions between float and the 16-bit float formats, bit-exact with
// PyTorch's c10::Half and c10::BFloat16 (round to nearest even).
#ifndef TENSOROPS_CORE_HALF_FLOAT_H_
#define TENSOROPS_CORE_HALF_FLOAT_H_

#include <cstdint>

namespace tensorops {

// IEEE binary16 bits -> float (exact).
float HalfToFloat(uint16_t bits);
// float -> IEEE binary16 bits; overflow gives inf, NaN gives 0x7e00 or
// 0xfe00 (c10's canonical NaN).
uint16_t FloatToHalf(float value);

// bfloat16 bits (upper half of a binary32) -> float (exact).
float BFloat16ToFloat(uint16_t bits);
// float -> bfloat16 bits; NaN gives 0x7fc0 as c10 does.
uint16_t FloatToBFloat16(float value);

}  // namespace tensorops

#endif  // TENSOROPS_CORE_HALF_FLOAT_H_
