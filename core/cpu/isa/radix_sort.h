// Stable LSD radix sort of packed (key, position) values by key, largest
// first. topk uses it to order large k (where it beats comparison sorting);
// it is generic over the key type so that other kernels (e.g. a future sort)
// can use it as well.
#ifndef TENSOROPS_CORE_CPU_ISA_RADIX_SORT_H_
#define TENSOROPS_CORE_CPU_ISA_RADIX_SORT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "core/cpu/isa/isa.h"  // once per instruction set
#include "core/cpu/isa/key_packing.h"

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

// Sorts data[0..n) by key (P::KeyOf), largest key first, for a Packing `P`
// of key_packing.h (any packed value whose key sits, order-biased, in the
// bits from P::kKeyShift up).
//
// Contract:
//  - Stable: values with equal keys keep their order in `data`, whatever
//    their positions. Values packed in increasing position order therefore
//    come out in topk's order (descending packed value).
//  - `scratch` holds n values and does not overlap `data`; its contents
//    are clobbered. The result is in `data`. Any n >= 0.
//  - 8 bits a pass, one pass per key byte; a pass where every value has
//    the same digit is skipped. For smallest-first, pack ~key instead (as
//    topk does for largest=false).
template <typename P>
void RadixSortByKeyDescending(typename P::Packed* data,
                              typename P::Packed* scratch, int64_t n) {
  using Packed = typename P::Packed;
  constexpr int kPackedBits = 8 * sizeof(Packed);
  if (n <= 1) return;
  Packed* from = data;
  Packed* to = scratch;
  for (int shift = P::kKeyShift; shift < kPackedBits; shift += 8) {
    // Digits of ~value: the largest key gets digit 0, so ascending digit
    // order is descending key order.
    auto digit = [shift](Packed value) {
      return static_cast<size_t>((~value >> shift) & 0xff);
    };
    int64_t counts[256] = {};
    for (int64_t i = 0; i < n; ++i) ++counts[digit(from[i])];
    if (counts[digit(from[0])] == n) continue;
    int64_t offset = 0;
    for (int64_t& c : counts) {
      const int64_t next = offset + c;
      c = offset;
      offset = next;
    }
    for (int64_t i = 0; i < n; ++i) to[counts[digit(from[i])]++] = from[i];
    std::swap(from, to);
  }
  if (from != data) std::memcpy(data, from, n * sizeof(Packed));
}

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_RADIX_SORT_H_
