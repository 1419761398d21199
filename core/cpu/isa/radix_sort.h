// Stable LSD radix sort of packed (key, position) values by key, largest
// first. topk uses it to order large k (where it beats comparison sorting),
// and sort (core/cpu/isa/selection_slices.h) to order whole slices.
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
  constexpr int kPasses = (kPackedBits - P::kKeyShift) / 8;
  if (n <= 1) return;
  // Digits of ~value: the largest key gets digit 0, so ascending digit
  // order is descending key order.
  auto digit = [](Packed value, int pass) {
    return static_cast<size_t>((~value >> (P::kKeyShift + 8 * pass)) & 0xff);
  };
  // Every pass's histogram in one read: a pass permutes the values but not
  // the multiset of any pass's digits.
  int64_t counts[kPasses][256] = {};
  for (int64_t i = 0; i < n; ++i) {
    for (int pass = 0; pass < kPasses; ++pass)
      ++counts[pass][digit(data[i], pass)];
  }
  Packed* from = data;
  Packed* to = scratch;
  for (int pass = 0; pass < kPasses; ++pass) {
    int64_t* pass_counts = counts[pass];
    if (pass_counts[digit(from[0], pass)] == n) continue;
    int64_t offset = 0;
    for (int d = 0; d < 256; ++d) {
      const int64_t next = offset + pass_counts[d];
      pass_counts[d] = offset;
      offset = next;
    }
    for (int64_t i = 0; i < n; ++i) {
      to[pass_counts[digit(from[i], pass)]++] = from[i];
    }
    std::swap(from, to);
  }
  if (from != data) std::memcpy(data, from, n * sizeof(Packed));
}

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_RADIX_SORT_H_
