// Oracle tests of Backend::Select (sort, kthvalue, max, min, median):
// CpuBackend against libtorch 1.13 on seeded random cases, against the
// reference selection of torch_oracle_support (tensorops' rules where
// PyTorch leaves ties unspecified), and the gradients of the results through
// Backend::TopKBackward against libtorch's autograd.
//
// Every case is rebuilt from (kind, dtype, seed index) alone, so a failure
// message's "case #N" reruns by itself.

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>

#include "core/backend.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "gtest/gtest.h"
#include "tests/core/selection_oracle_support.h"
#include "tests/core/torch_oracle_support.h"

namespace tensorops {
namespace {

using ::tensorops::testing::CheckBackward;
using ::tensorops::testing::CheckForward;
using ::tensorops::testing::Coverage;
using ::tensorops::testing::Describe;
using ::tensorops::testing::DTypesTaking;
using ::tensorops::testing::kAllKinds;
using ::tensorops::testing::kMaxReportedFailures;
using ::tensorops::testing::kRandomCasesPerDType;
using ::tensorops::testing::Options;
using ::tensorops::testing::Reduces;
using ::tensorops::testing::SelectionCase;
using ::tensorops::testing::SelectionOracleTest;
using ::tensorops::testing::ValueMix;

// Sort: values bit for bit and indices exactly torch.sort(stable=True)'s,
// and the reference stable order (NaN above +inf, -0.0 == +0.0, lower
// index first among equal keys in both directions).
TEST_F(SelectionOracleTest, SortMatchesTorchStableSortAndReference) {
  EXPECT_EQ(RunRandomForwardCases(SelectionKind::kSort),
            kRandomCasesPerDType * DTypesTaking(SelectionKind::kSort));
}

// Max: the first index of the largest value or of the first NaN, as
// torch.max(dim) returns it; values bit for bit.
TEST_F(SelectionOracleTest, MaxMatchesTorchFirstIndexOfExtreme) {
  EXPECT_EQ(RunRandomForwardCases(SelectionKind::kMax),
            kRandomCasesPerDType * DTypesTaking(SelectionKind::kMax));
}

// Min: the first index of the smallest value or of the first NaN, as
// torch.min(dim) returns it; values bit for bit.
TEST_F(SelectionOracleTest, MinMatchesTorchFirstIndexOfExtreme) {
  EXPECT_EQ(RunRandomForwardCases(SelectionKind::kMin),
            kRandomCasesPerDType * DTypesTaking(SelectionKind::kMin));
}

// Median: the first NaN, else position (n - 1) / 2 of a stable ascending
// sort, as torch.median(dim) returns it (float16 compared on float32).
TEST_F(SelectionOracleTest, MedianMatchesTorchIndexAndValue) {
  EXPECT_EQ(RunRandomForwardCases(SelectionKind::kMedian),
            kRandomCasesPerDType * DTypesTaking(SelectionKind::kMedian));
}

// KthValue: torch.kthvalue's value, at the lowest index holding it
// (tensorops' rule; torch's own index holds the same value).
TEST_F(SelectionOracleTest, KthValueMatchesTorchValueAtLowestIndex) {
  EXPECT_EQ(RunRandomForwardCases(SelectionKind::kKthValue),
            kRandomCasesPerDType * DTypesTaking(SelectionKind::kKthValue));
}

// Gradients, by kind: TopKBackward of the results equals libtorch's
// autograd of the op, bit for bit, for every floating dtype.
class SelectionBackwardOracleTest
    : public SelectionOracleTest,
      public ::testing::WithParamInterface<SelectionKind> {};

constexpr int64_t kBackwardCasesPerDType = 60;

TEST_P(SelectionBackwardOracleTest, TopKBackwardMatchesTorchAutograd) {
  const SelectionKind kind = GetParam();
  int64_t checked = 0;
  int64_t nonempty = 0;
  int64_t rank0 = 0;
  int64_t reduced_without_keepdim = 0;
  for (DType dtype : kAllDTypes) {
    if (!IsFloatingPoint(dtype)) continue;
    SCOPED_TRACE(DTypeName(dtype));
    int failures = 0;
    for (int64_t seed_index = 0;
         seed_index < kBackwardCasesPerDType && failures < kMaxReportedFailures;
         ++seed_index) {
      // Other seeds than the forward tests'.
      const SelectionCase c = tensorops::testing::RandomSelectionCase(
          kind, dtype, 500000 + seed_index);
      if (::testing::AssertionResult result = CheckBackward(backend_, c);
          !result) {
        ++failures;
        ADD_FAILURE() << result.message() << "\n  " << Describe(c);
        continue;
      }
      ++checked;
      nonempty += !c.input.empty();
      rank0 += c.shape.empty();
      reduced_without_keepdim +=
          Reduces(kind) && !c.options.keepdim && !c.shape.empty();
    }
  }
  EXPECT_EQ(checked, kBackwardCasesPerDType *
                         std::count_if(std::begin(kAllDTypes),
                                       std::end(kAllDTypes), IsFloatingPoint));
  EXPECT_GT(nonempty, checked / 2);
  EXPECT_GT(rank0, 0);
  if (Reduces(kind)) {
    EXPECT_GT(reduced_without_keepdim, 0);
  }
}

std::string KindName(const ::testing::TestParamInfo<SelectionKind>& info) {
  switch (info.param) {
    case SelectionKind::kSort:
      return "Sort";
    case SelectionKind::kKthValue:
      return "KthValue";
    case SelectionKind::kMax:
      return "Max";
    case SelectionKind::kMin:
      return "Min";
    case SelectionKind::kMedian:
      return "Median";
  }
  return "Unknown";
}

INSTANTIATE_TEST_SUITE_P(ByKind, SelectionBackwardOracleTest,
                         ::testing::ValuesIn(kAllKinds), KindName);

// Slices long enough for the kernels' other paths (forward, and backward for
// floating dtypes): max/min splitting few long rows into segments run in
// parallel, rows of several scan blocks, several column blocks per outer
// index and long columns; sort, median and kthvalue of long slices split
// across tasks.
struct LongSliceCase {
  const char* name;
  DType dtype;
  Shape shape;
  SelectionOptions options;
  ValueMix mix;
  int pool_size;
};

const LongSliceCase kLongSliceCases[] = {
    {"MaxFloat32TwoLongRowsCoarse",
     DType::kFloat32,
     {2, 150000},
     Options(SelectionKind::kMax, -1),
     ValueMix::kCoarse,
     0},
    {"MinFloat64LongRowPool3",
     DType::kFloat64,
     {140000},
     Options(SelectionKind::kMin, 0, /*keepdim=*/true),
     ValueMix::kPool,
     3},
    {"MaxInt64LongRowWide",
     DType::kInt64,
     {1, 131072},
     Options(SelectionKind::kMax, 1),
     ValueMix::kWide,
     0},
    {"MinBFloat16ThreeRowsRandomBits",
     DType::kBFloat16,
     {3, 70000},
     Options(SelectionKind::kMin, 1, /*keepdim=*/true),
     ValueMix::kRandomBits,
     0},
    {"MaxBoolLongRowPool1",
     DType::kBool,
     {100000},
     Options(SelectionKind::kMax, -1),
     ValueMix::kPool,
     1},
    {"MinInt8LongColumns",
     DType::kInt8,
     {300, 700},
     Options(SelectionKind::kMin, 0),
     ValueMix::kCoarse,
     0},
    {"SortFloat32LongRowDescendingPool4",
     DType::kFloat32,
     {1, 60000},
     Options(SelectionKind::kSort, -1, false, /*descending=*/true),
     ValueMix::kPool,
     4},
    {"SortFloat16LongColumnRandomBits",
     DType::kFloat16,
     {30000, 3},
     Options(SelectionKind::kSort, 0),
     ValueMix::kRandomBits,
     0},
    {"MedianFloat32LongRowCoarse",
     DType::kFloat32,
     {2, 40001},
     Options(SelectionKind::kMedian, 1),
     ValueMix::kCoarse,
     0},
    {"KthValueInt32LongRowPool2",
     DType::kInt32,
     {50000},
     Options(SelectionKind::kKthValue, 0, false, false, /*k=*/20000),
     ValueMix::kPool,
     2},
    {"KthValueFloat16LongRowCoarse",
     DType::kFloat16,
     {30000},
     Options(SelectionKind::kKthValue, -1, true, false, /*k=*/29000),
     ValueMix::kCoarse,
     0},
    // 64-bit keys (several radix passes) and 8-bit values in 32-bit keys
    // (digits that do not split) for the radix select.
    {"MedianFloat64LongRowsWide",
     DType::kFloat64,
     {3, 20000},
     Options(SelectionKind::kMedian, 1),
     ValueMix::kWide,
     0},
    {"KthValueInt64LongRowsRandomBits",
     DType::kInt64,
     {2, 17000},
     Options(SelectionKind::kKthValue, -1, false, false, /*k=*/5000),
     ValueMix::kRandomBits,
     0},
    {"MedianInt8LongRowCoarse",
     DType::kInt8,
     {70000},
     Options(SelectionKind::kMedian, 0),
     ValueMix::kCoarse,
     0},
    {"MedianBFloat16LongColumnsRandomBits",
     DType::kBFloat16,
     {5001, 4},
     Options(SelectionKind::kMedian, 0, /*keepdim=*/true),
     ValueMix::kRandomBits,
     0},
    {"MaxFloat16ColumnBlocksOuter3",
     DType::kFloat16,
     {3, 50, 600},
     Options(SelectionKind::kMax, 1, /*keepdim=*/true),
     ValueMix::kWide,
     0},
    // The vector scans of 32-bit elements (float32, int32): rows of several
    // 32-element steps with a tail, NaNs, signed zeros and ties; columns of
    // several 8-column steps with a tail.
    {"MinFloat32RowsRandomBits",
     DType::kFloat32,
     {64, 1003},
     Options(SelectionKind::kMin, -1),
     ValueMix::kRandomBits,
     0},
    {"MaxFloat32RowsWide",
     DType::kFloat32,
     {64, 1003},
     Options(SelectionKind::kMax, -1),
     ValueMix::kWide,
     0},
    {"MinFloat32RowsPool3",
     DType::kFloat32,
     {50, 777},
     Options(SelectionKind::kMin, -1),
     ValueMix::kPool,
     3},
    {"MaxInt32RowsPool2",
     DType::kInt32,
     {30, 1500},
     Options(SelectionKind::kMax, 1),
     ValueMix::kPool,
     2},
    {"MaxFloat32ColumnsRandomBits",
     DType::kFloat32,
     {700, 301},
     Options(SelectionKind::kMax, 0),
     ValueMix::kRandomBits,
     0},
    {"MinFloat32ColumnsCoarse",
     DType::kFloat32,
     {2, 300, 259},
     Options(SelectionKind::kMin, 1, /*keepdim=*/true),
     ValueMix::kCoarse,
     0},
    {"MinInt32ColumnsPool2",
     DType::kInt32,
     {500, 260},
     Options(SelectionKind::kMin, 0),
     ValueMix::kPool,
     2},
    {"MinUInt8ManyRowsOfSeveralBlocks",
     DType::kUInt8,
     {40, 3000},
     Options(SelectionKind::kMin, -1),
     ValueMix::kWide,
     0},
};

TEST_F(SelectionOracleTest, LongSlicesMatchTorch) {
  int cases_passed = 0;
  for (const LongSliceCase& spec : kLongSliceCases) {
    SCOPED_TRACE(spec.name);
    const SelectionCase c = tensorops::testing::MakeSelectionCase(
        spec.dtype, /*seed_index=*/1000000, spec.shape, spec.options, spec.mix,
        spec.pool_size);
    Coverage coverage;
    EXPECT_TRUE(CheckForward(backend_, c, coverage)) << Describe(c);
    if (IsFloatingPoint(c.dtype)) {
      EXPECT_TRUE(CheckBackward(backend_, c)) << Describe(c);
    }
    cases_passed += coverage.cases;
  }
  EXPECT_EQ(cases_passed, std::size(kLongSliceCases));
}

}  // namespace
}  // namespace tensorops
