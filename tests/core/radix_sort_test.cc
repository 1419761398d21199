// The contracts of the per-instruction-set key packing and radix sort
// (core/cpu/isa/), compiled here for the test's own instruction set.
#define TENSOROPS_CPU_ISA isa_test

#include "core/cpu/isa/radix_sort.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/cpu/isa/key_packing.h"
#include "gtest/gtest.h"

namespace tensorops::cpu::isa_test {
namespace {

template <typename Key>
class KeyPackingTest : public ::testing::Test {};
using Keys = ::testing::Types<int32_t, int64_t>;
TYPED_TEST_SUITE(KeyPackingTest, Keys);

TYPED_TEST(KeyPackingTest, RoundTripsAndOrdersLikeTopK) {
  using Key = TypeParam;
  using P = Packing<Key>;
  using Position = typename P::Position;
  const Key keys[] = {std::numeric_limits<Key>::min(), -2, -1, 0, 1,
                      std::numeric_limits<Key>::max()};
  const Position positions[] = {0, 1, 7, std::numeric_limits<Position>::max()};
  for (Key a : keys) {
    for (Position i : positions) {
      const typename P::Packed packed = P::Pack(a, i);
      EXPECT_EQ(P::KeyOf(packed), a);
      EXPECT_EQ(P::PositionOf(packed), i);
      for (Key b : keys) {
        for (Position j : positions) {
          // Larger key first, then lower position.
          const bool ranks_higher = a > b || (a == b && i < j);
          EXPECT_EQ(packed > P::Pack(b, j), ranks_higher)
              << a << "@" << i << " vs " << b << "@" << j;
        }
      }
    }
  }
}

TYPED_TEST(KeyPackingTest, RadixSortIsAStableSortByKeyDescending) {
  using Key = TypeParam;
  using P = Packing<Key>;
  using Packed = typename P::Packed;
  std::mt19937_64 rng(7);
  for (int64_t n : {0, 1, 2, 3, 100, 5000}) {
    for (int spread : {0, 1, 3, 1000, -1}) {  // -1: any key
      std::vector<Packed> data(n);
      for (int64_t i = 0; i < n; ++i) {
        Key key = static_cast<Key>(rng());
        if (spread >= 0) key = static_cast<Key>(key % (spread + 1));
        // Positions in an arbitrary order: stability is in input order.
        data[i] = P::Pack(key, static_cast<typename P::Position>(rng()));
      }
      std::vector<Packed> expected = data;
      std::stable_sort(
          expected.begin(), expected.end(),
          [](Packed a, Packed b) { return P::KeyOf(a) > P::KeyOf(b); });
      std::vector<Packed> scratch(n);
      RadixSortByKeyDescending<P>(data.data(), scratch.data(), n);
      EXPECT_TRUE(data == expected) << "n " << n << " spread " << spread;
    }
  }
}

}  // namespace
}  // namespace tensorops::cpu::isa_test
