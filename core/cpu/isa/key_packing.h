// Key packing: an order key and a position in one unsigned integer, so that
// a single integer comparison orders (key, position) pairs. nth_element and
// sort run several times faster on these than on pairs. Used by the topk
// selection and radix_sort.h, and meant for any kernel that orders elements
// by key (e.g. a future sort).
#ifndef TENSOROPS_CORE_CPU_ISA_KEY_PACKING_H_
#define TENSOROPS_CORE_CPU_ISA_KEY_PACKING_H_

#include <cstdint>
#include <type_traits>

#include "core/cpu/isa/isa.h"  // once per instruction set

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

// Packing<Key> for a signed 32- or 64-bit order key (KeyTraits<D>::KeyType
// of core/cpu/order_keys.h, possibly flipped with ~ for largest=false).
//
// Contract:
//  - Pack(key, position) is an unsigned Packed twice as wide as Key: the
//    key with its sign bit flipped in the high half (bits from kKeyShift
//    up), ~position in the low half.
//  - Packed order is topk's order: Pack(a, i) > Pack(b, j) exactly when
//    a > b, or a == b and i < j (larger key first, lower position first
//    among equal keys). Distinct positions make distinct packed values.
//  - KeyOf and PositionOf invert Pack. Positions must be below
//    2^kKeyShift (callers keep runs below kMaxRun, core/cpu/isa/candidates.h).
template <typename Key>
struct Packing {
  static_assert(std::is_signed_v<Key> && (sizeof(Key) == 4 || sizeof(Key) == 8),
                "order keys are int32_t or int64_t");
  using KeyType = Key;
  using Position = std::make_unsigned_t<Key>;
  using Packed =
      std::conditional_t<sizeof(Key) == 4, uint64_t, unsigned __int128>;
  // Bits below the key, which occupies bits [kKeyShift, 2 * kKeyShift).
  static constexpr int kKeyShift = 8 * sizeof(Key);

  static Packed Pack(Key key, Position position) {
    return (Packed{static_cast<Position>(key) ^ kSignBit} << kKeyShift) |
           static_cast<Position>(~position);
  }
  static Key KeyOf(Packed p) {
    return static_cast<Key>(static_cast<Position>(p >> kKeyShift) ^ kSignBit);
  }
  static Position PositionOf(Packed p) { return ~static_cast<Position>(p); }

 private:
  static constexpr Position kSignBit = Position{1} << (kKeyShift - 1);
};

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_KEY_PACKING_H_
