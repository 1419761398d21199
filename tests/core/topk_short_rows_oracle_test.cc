// Oracle tests of topk over many short rows with small k: the shapes the AVX2
// clone selects in registers (core/cpu/isa/short_rows.h; rows of at most 1024
// elements, k <= 16, 32-bit order keys), with sizes and k on both sides of
// its vector width and limits, and the rows it hands back to the general
// selector (many equal keys), against libtorch and the reference selection.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "gtest/gtest.h"
#include "tests/core/topk_oracle_check.h"
#include "tests/core/torch_oracle_support.h"

namespace tensorops {
namespace {

using ::tensorops::testing::CheckTopK;
using ::tensorops::testing::Coverage;
using ::tensorops::testing::Describe;
using ::tensorops::testing::DTypeFamily;
using ::tensorops::testing::FamilyName;
using ::tensorops::testing::TopKCase;
using ::tensorops::testing::TopKDTypesOf;
using ::tensorops::testing::TorchOracleTest;
using ::tensorops::testing::ValueMix;

// Enough rows that each task selects whole rows (at two threads).
constexpr int64_t kRows = 6;
constexpr int64_t kSizes[] = {1,   5,   8,   13,  16,   17,   64,
                              100, 128, 257, 512, 1000, 1024, 1025};
constexpr int64_t kKs[] = {1, 2, 7, 8, 9, 15, 16, 17};

struct Mix {
  ValueMix mix;
  int pool_size;
};
// Mostly distinct values, coarse values with ties and specials, random bit
// patterns (NaN payloads), three values (ties in every selection) and one
// (every key equal: the general selector's rows).
constexpr Mix kMixes[] = {{ValueMix::kWide, 0},
                          {ValueMix::kCoarse, 0},
                          {ValueMix::kRandomBits, 0},
                          {ValueMix::kPool, 3},
                          {ValueMix::kPool, 1}};

class TopKShortRowsOracleTest
    : public TorchOracleTest,
      public ::testing::WithParamInterface<DTypeFamily> {};

TEST_P(TopKShortRowsOracleTest, ManyShortRowsMatchTorchAndReference) {
  for (DType dtype : TopKDTypesOf(GetParam())) {
    SCOPED_TRACE(DTypeName(dtype));
    Coverage coverage;
    int64_t seed_index = 2000000;
    int failures = 0;
    for (int64_t size : kSizes) {
      for (int64_t k : kKs) {
        if (k > size) continue;
        for (const Mix& mix : kMixes) {
          ++seed_index;
          // Every combination of direction and order comes round.
          const bool largest = seed_index % 2 == 0;
          const bool sorted = seed_index % 4 < 2;
          const TopKCase c = tensorops::testing::MakeTopKCase(
              dtype, seed_index, Shape{kRows, size}, {k, -1, largest, sorted},
              mix.mix, mix.pool_size);
          if (::testing::AssertionResult result =
                  CheckTopK(backend_, c, coverage);
              !result && ++failures <= 5) {
            ADD_FAILURE() << result.message() << "\n  " << Describe(c);
          }
        }
      }
    }
    EXPECT_EQ(failures, 0);
    EXPECT_GT(coverage.cases, 300);
    EXPECT_GT(coverage.smallest, 0);
    EXPECT_GT(coverage.unsorted, 0);
    EXPECT_GT(coverage.all_equal, 0);
    EXPECT_GT(coverage.tied_selection, 0);
    if (IsFloatingPoint(dtype)) {
      EXPECT_GT(coverage.nan, 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ByFamily, TopKShortRowsOracleTest,
                         ::testing::Values(DTypeFamily::kFloating,
                                           DTypeFamily::kInteger),
                         FamilyName);

}  // namespace
}  // namespace tensorops
