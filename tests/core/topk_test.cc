#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::MakeTensor;
using testing::StatusIs;
using testing::Values;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

class TopKTest : public ::testing::Test {
 protected:
  TopKResult Run(const Tensor& input, TopKOptions options) {
    absl::StatusOr<TopKResult> result = backend_.TopK(input, options);
    EXPECT_THAT(result, IsOk());
    return result.ok() ? *std::move(result) : TopKResult{};
  }
  CpuBackend backend_{CpuBackendOptions{.num_threads = 2}};
};

TEST_F(TopKTest, SeedExample) {
  TopKResult r =
      Run(MakeTensor<float>(DType::kFloat32, {4}, {3, 1, 4, 2}), {.k = 2});
  EXPECT_EQ(r.values.shape(), Shape({2}));
  EXPECT_EQ(r.indices.dtype(), DType::kInt64);
  EXPECT_THAT(Values<float>(r.values), ElementsAre(4, 3));
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(2, 0));
}

TEST_F(TopKTest, TwoDimensionalAlongRows) {
  Tensor x =
      MakeTensor<float>(DType::kFloat32, {2, 4}, {3, 1, 4, 2, 5, 9, 8, 7});
  TopKResult r = Run(x, {.k = 3, .dim = 1});
  EXPECT_EQ(r.values.shape(), Shape({2, 3}));
  EXPECT_THAT(Values<float>(r.values), ElementsAre(4, 3, 2, 9, 8, 7));
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(2, 0, 3, 1, 2, 3));
}

TEST_F(TopKTest, DefaultDimIsLast) {
  Tensor x = MakeTensor<float>(DType::kFloat32, {2, 2}, {1, 9, 8, 2});
  TopKResult r = Run(x, {.k = 1});
  EXPECT_THAT(Values<float>(r.values), ElementsAre(9, 8));
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(1, 0));
}

TEST_F(TopKTest, AlongFirstDim) {
  std::vector<float> data(12);
  for (int i = 0; i < 12; ++i) data[i] = i;
  TopKResult r =
      Run(MakeTensor<float>(DType::kFloat32, {3, 4}, data), {.k = 2, .dim = 0});
  EXPECT_EQ(r.values.shape(), Shape({2, 4}));
  EXPECT_THAT(Values<float>(r.values), ElementsAre(8, 9, 10, 11, 4, 5, 6, 7));
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(2, 2, 2, 2, 1, 1, 1, 1));
}

TEST_F(TopKTest, MiddleDimOfRank3) {
  // shape [2, 3, 2]; along dim 1 (negative -2).
  Tensor x = MakeTensor<int32_t>(DType::kInt32, {2, 3, 2},
                                 {1, 6, 5, 2, 3, 4, 0, 0, 7, -1, 7, 9});
  TopKResult r = Run(x, {.k = 2, .dim = -2});
  EXPECT_EQ(r.values.shape(), Shape({2, 2, 2}));
  EXPECT_THAT(Values<int32_t>(r.values), ElementsAre(5, 6, 3, 4, 7, 9, 7, 0));
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(1, 0, 2, 2, 1, 2, 2, 0));
}

TEST_F(TopKTest, Smallest) {
  Tensor s = MakeTensor<float>(DType::kFloat32, {7}, {5, 1, 4, 2, 3, 9, 0});
  TopKResult r = Run(s, {.k = 3, .largest = false});
  EXPECT_THAT(Values<float>(r.values), ElementsAre(0, 1, 2));
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(6, 1, 3));
}

TEST_F(TopKTest, UnsortedReturnsSelectionInIndexOrder) {
  Tensor s = MakeTensor<float>(DType::kFloat32, {7}, {5, 1, 4, 2, 3, 9, 0});
  TopKResult r = Run(s, {.k = 3, .sorted = false});
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(0, 2, 5));
  EXPECT_THAT(Values<float>(r.values), ElementsAre(5, 4, 9));
  r = Run(s, {.k = 3, .largest = false, .sorted = false});
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(1, 3, 6));
}

TEST_F(TopKTest, TiesTakeLowerIndexFirst) {
  Tensor x = MakeTensor<float>(DType::kFloat32, {6}, {2, 7, 7, 1, 7, 3});
  EXPECT_THAT(Values<int64_t>(Run(x, {.k = 2}).indices), ElementsAre(1, 2));
  EXPECT_THAT(Values<int64_t>(Run(x, {.k = 4}).indices),
              ElementsAre(1, 2, 4, 5));
  Tensor ones = MakeTensor<float>(DType::kFloat32, {1000},
                                  std::vector<float>(1000, 1.0f));
  EXPECT_THAT(Values<int64_t>(Run(ones, {.k = 5}).indices),
              ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(Values<int64_t>(Run(ones, {.k = 5, .largest = false}).indices),
              ElementsAre(0, 1, 2, 3, 4));
}

TEST_F(TopKTest, TiesInLongRowsAcrossParallelSegments) {
  // Long enough to be split across threads: the merge must keep the rule.
  const int64_t n = 1 << 20;
  std::vector<float> data(n, 1.0f);
  data[n - 1] = 2.0f;
  TopKResult r = Run(MakeTensor<float>(DType::kFloat32, {n}, data), {.k = 4});
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(n - 1, 0, 1, 2));
  r = Run(MakeTensor<float>(DType::kFloat32, {n}, data),
          {.k = 3, .largest = false});
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(0, 1, 2));
}

TEST_F(TopKTest, NaNRanksAboveInfinity) {
  Tensor f = MakeTensor<float>(DType::kFloat32, {6},
                               {1.0f, -kInf, kInf, 0.0f, kNaN, -5.0f});
  TopKResult r = Run(f, {.k = 6});
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(4, 2, 0, 3, 5, 1));
  EXPECT_TRUE(std::isnan(Values<float>(r.values)[0]));
  r = Run(f, {.k = 6, .largest = false});
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(1, 5, 3, 0, 2, 4));
  Tensor two_nans = MakeTensor<float>(DType::kFloat32, {4}, {kNaN, 1, kNaN, 3});
  EXPECT_THAT(Values<int64_t>(Run(two_nans, {.k = 3}).indices),
              ElementsAre(0, 2, 3));
  EXPECT_THAT(
      Values<int64_t>(Run(two_nans, {.k = 4, .largest = false}).indices),
      ElementsAre(1, 3, 0, 2));
}

TEST_F(TopKTest, NegativeNaNAndPayloadsAreKept) {
  const uint32_t negative_nan = 0xffc00001u;
  const uint32_t bits[] = {0x3f800000u, negative_nan, 0x40000000u};
  Tensor x =
      MakeTensor<uint32_t>(DType::kFloat32, {3}, {bits[0], bits[1], bits[2]});
  TopKResult r = Run(x, {.k = 1});
  EXPECT_THAT(Values<uint32_t>(r.values), ElementsAre(negative_nan));
}

TEST_F(TopKTest, SignedZerosCompareEqualAndKeepTheirSign) {
  Tensor x =
      MakeTensor<float>(DType::kFloat32, {4}, {0.0f, -0.0f, 1.0f, -1.0f});
  TopKResult r = Run(x, {.k = 4});
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(2, 0, 1, 3));
  std::vector<float> v = Values<float>(r.values);
  EXPECT_FALSE(std::signbit(v[1]));
  EXPECT_TRUE(std::signbit(v[2]));
  Tensor y = MakeTensor<float>(DType::kFloat32, {2}, {-0.0f, 0.0f});
  EXPECT_TRUE(std::signbit(Values<float>(Run(y, {.k = 1}).values)[0]));
  EXPECT_TRUE(std::signbit(
      Values<float>(Run(y, {.k = 1, .largest = false}).values)[0]));
}

TEST_F(TopKTest, IntegerDtypes) {
  EXPECT_THAT(Values<int8_t>(
                  Run(MakeTensor<int8_t>(DType::kInt8, {4}, {-128, 127, 0, -1}),
                      {.k = 4})
                      .values),
              ElementsAre(127, 0, -1, -128));
  EXPECT_THAT(Values<uint8_t>(
                  Run(MakeTensor<uint8_t>(DType::kUInt8, {4}, {0, 255, 128, 1}),
                      {.k = 2, .largest = false})
                      .values),
              ElementsAre(0, 1));
  EXPECT_THAT(Values<int64_t>(Run(MakeTensor<int64_t>(
                                      DType::kInt64, {3},
                                      {std::numeric_limits<int64_t>::min(),
                                       std::numeric_limits<int64_t>::max(), 0}),
                                  {.k = 3})
                                  .values),
              ElementsAre(std::numeric_limits<int64_t>::max(), 0,
                          std::numeric_limits<int64_t>::min()));
  EXPECT_THAT(
      Values<int16_t>(
          Run(MakeTensor<int16_t>(DType::kInt16, {3}, {-5, 300, 7}), {.k = 1})
              .values),
      ElementsAre(300));
}

TEST_F(TopKTest, HalfPrecisionDtypes) {
  // float16: 1.0, NaN, -2.0, +inf; bfloat16: 1.0, -0.0, 0.0, -inf.
  Tensor h = MakeTensor<uint16_t>(DType::kFloat16, {4},
                                  {0x3c00, 0x7e00, 0xc000, 0x7c00});
  EXPECT_THAT(Values<int64_t>(Run(h, {.k = 4}).indices),
              ElementsAre(1, 3, 0, 2));
  Tensor b = MakeTensor<uint16_t>(DType::kBFloat16, {4},
                                  {0x3f80, 0x8000, 0x0000, 0xff80});
  TopKResult r = Run(b, {.k = 4});
  EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(Values<uint16_t>(r.values),
              ElementsAre(0x3f80, 0x8000, 0, 0xff80));
}

TEST_F(TopKTest, Float64) {
  Tensor x = MakeTensor<double>(DType::kFloat64, {3}, {1e300, -1e-300, 0.5});
  EXPECT_THAT(Values<double>(Run(x, {.k = 2, .largest = false}).values),
              ElementsAre(-1e-300, 0.5));
}

TEST_F(TopKTest, ZeroDimensionalInput) {
  Tensor x = MakeTensor<float>(DType::kFloat32, {}, {7});
  for (int64_t k : {0, 1}) {
    for (int64_t dim : {0, -1}) {
      TopKResult r = Run(x, {.k = k, .dim = dim});
      EXPECT_EQ(r.values.shape(), Shape{});
      EXPECT_EQ(r.indices.shape(), Shape{});
      EXPECT_THAT(Values<float>(r.values), ElementsAre(7));
      EXPECT_THAT(Values<int64_t>(r.indices), ElementsAre(0));
    }
  }
  EXPECT_THAT(backend_.TopK(x, {.k = 2}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected 0 <= k <= 1")));
  EXPECT_THAT(
      backend_.TopK(x, {.k = 1, .dim = 1}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[-1, 0]")));
}

TEST_F(TopKTest, ZeroSizeInputs) {
  Tensor empty_rows = MakeTensor<float>(DType::kFloat32, {0, 5}, {});
  TopKResult r = Run(empty_rows, {.k = 2, .dim = 1});
  EXPECT_EQ(r.values.shape(), Shape({0, 2}));
  EXPECT_EQ(r.indices.shape(), Shape({0, 2}));
  EXPECT_EQ(Run(empty_rows, {.k = 0, .dim = 0}).values.shape(), Shape({0, 5}));
  EXPECT_THAT(backend_.TopK(empty_rows, {.k = 1, .dim = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(backend_.TopK(empty_rows, {.k = 6, .dim = 1}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  Tensor empty = MakeTensor<float>(DType::kFloat32, {0}, {});
  EXPECT_EQ(Run(empty, {.k = 0}).values.shape(), Shape({0}));
  EXPECT_THAT(backend_.TopK(empty, {.k = 1}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// A zero dimension makes a tensor empty however large the others are, even
// when their product overflows int64 (found by tests/fuzz/request_fuzzer:
// the plan's geometry multiplied them, which is undefined behaviour).
TEST_F(TopKTest, ZeroSizeInputsWithHugeOtherDimensions) {
  const int64_t huge = int64_t{1} << 62;
  for (const Shape& shape :
       {Shape{huge, huge, 0}, Shape{0, huge, huge}, Shape{huge, 0, huge}}) {
    Tensor x = MakeTensor<float>(DType::kFloat32, shape, {});
    for (int64_t dim = 0; dim < 3; ++dim) {
      const int64_t k = std::min<int64_t>(shape[dim], 1);
      TopKResult r = Run(x, {.k = k, .dim = dim});
      Shape expected = shape;
      expected[dim] = k;
      EXPECT_EQ(r.values.shape(), expected);
      EXPECT_EQ(r.indices.shape(), expected);
      EXPECT_EQ(r.values.num_elements(), 0);
    }
  }
}

TEST_F(TopKTest, KZeroGivesEmptySlices) {
  Tensor x = MakeTensor<float>(DType::kFloat32, {3, 4}, std::vector<float>(12));
  TopKResult r = Run(x, {.k = 0, .dim = 1});
  EXPECT_EQ(r.values.shape(), Shape({3, 0}));
  EXPECT_EQ(r.values.num_elements(), 0);
}

TEST_F(TopKTest, RejectsBadArguments) {
  Tensor s = MakeTensor<float>(DType::kFloat32, {7}, std::vector<float>(7));
  EXPECT_THAT(backend_.TopK(s, {.k = 8}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("k = 8 is out of range")));
  EXPECT_THAT(backend_.TopK(s, {.k = -1}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected 0 <= k <= 7")));
  Tensor m = MakeTensor<float>(DType::kFloat32, {3, 4}, std::vector<float>(12));
  EXPECT_THAT(backend_.TopK(m, {.k = 1, .dim = 2}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected to be in range of [-2, 1]")));
  EXPECT_THAT(backend_.TopK(m, {.k = 1, .dim = -3}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("[-2, 1], but got -3")));
  Tensor b = MakeTensor<uint8_t>(DType::kBool, {2}, {0, 1});
  EXPECT_THAT(backend_.TopK(b, {.k = 1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bool")));
}

TEST_F(TopKTest, WorksOnUnalignedBorrowedBytes) {
  std::vector<std::byte> storage(1 + 3 * sizeof(double));
  const double data[] = {1.5, -2.5, 9.0};
  std::memcpy(storage.data() + 1, data, sizeof(data));
  absl::StatusOr<Tensor> view = Tensor::View(
      DType::kFloat64, {3}, {storage.data() + 1, sizeof(data)}, nullptr);
  ASSERT_THAT(view, IsOk());
  TopKResult r = Run(*view, {.k = 2});
  EXPECT_THAT(Values<double>(r.values), ElementsAre(9.0, 1.5));
}

TEST_F(TopKTest, RowsUnlikeThePreviousOneStayCorrect) {
  // Each row's selection starts from a threshold guessed from the row before;
  // rows far below, far above and tied with it must not depend on the guess.
  const int64_t n = 5000;
  const int64_t k = 50;
  std::vector<float> data;
  for (int row = 0; row < 6; ++row) {
    for (int64_t i = 0; i < n; ++i) {
      float value = 0;
      switch (row % 3) {
        case 0:
          value = 1000.0f + static_cast<float>((i * 7919) % n);
          break;
        case 1:
          value = -static_cast<float>((i * 104729) % n);
          break;
        default:
          value = 1.0f;  // all tied
          break;
      }
      data.push_back(value);
    }
  }
  for (bool largest : {true, false}) {
    TopKResult r = Run(MakeTensor<float>(DType::kFloat32, {6, n}, data),
                       {.k = k, .largest = largest});
    std::vector<int64_t> indices = Values<int64_t>(r.indices);
    std::vector<float> values = Values<float>(r.values);
    for (int row = 0; row < 6; ++row) {
      std::vector<int64_t> expected(n);
      for (int64_t i = 0; i < n; ++i) expected[i] = i;
      const float* x = &data[row * n];
      std::stable_sort(expected.begin(), expected.end(),
                       [&](int64_t a, int64_t b) {
                         return largest ? x[a] > x[b] : x[a] < x[b];
                       });
      for (int64_t j = 0; j < k; ++j) {
        ASSERT_EQ(indices[row * k + j], expected[j])
            << "row " << row << " position " << j << " largest " << largest;
        ASSERT_EQ(values[row * k + j], x[expected[j]]);
      }
    }
  }
}

TEST_F(TopKTest, ColumnsUnlikeThePreviousBlockStayCorrect) {
  // Along dim 0 each block of neighbouring columns starts from thresholds
  // guessed from the block its thread scanned before; blocks far below, far
  // above and tied with it must not depend on the guess. 256 columns make a
  // float32 block at this k, so these are nine blocks.
  const int64_t n = 400;
  const int64_t columns = 9 * 256;
  const int64_t k = 20;
  std::vector<float> data(n * columns);
  for (int64_t s = 0; s < n; ++s) {
    for (int64_t c = 0; c < columns; ++c) {
      float value = 1.0f;  // blocks 2, 5, 8: all tied
      switch ((c / 256) % 3) {
        case 0:
          value = 1000.0f + static_cast<float>((s * 7919 + c) % n);
          break;
        case 1:
          value = -static_cast<float>((s * 104729 + 3 * c) % n);
          break;
      }
      data[s * columns + c] = value;
    }
  }
  for (bool largest : {true, false}) {
    TopKResult r = Run(MakeTensor<float>(DType::kFloat32, {n, columns}, data),
                       {.k = k, .dim = 0, .largest = largest});
    std::vector<int64_t> indices = Values<int64_t>(r.indices);
    std::vector<float> values = Values<float>(r.values);
    for (int64_t c = 0; c < columns; ++c) {
      std::vector<int64_t> expected(n);
      for (int64_t s = 0; s < n; ++s) expected[s] = s;
      std::stable_sort(expected.begin(), expected.end(),
                       [&](int64_t a, int64_t b) {
                         const float x = data[a * columns + c];
                         const float y = data[b * columns + c];
                         return largest ? x > y : x < y;
                       });
      for (int64_t j = 0; j < k; ++j) {
        ASSERT_EQ(indices[j * columns + c], expected[j])
            << "column " << c << " position " << j << " largest " << largest;
        ASSERT_EQ(values[j * columns + c], data[expected[j] * columns + c]);
      }
    }
  }
}

TEST_F(TopKTest, FewLongColumnsAreSplitAcrossThreadsAndMerged) {
  // [n, 3] along dim 0: three long strided slices, scanned in parallel
  // segments and merged; values from a small set so ties cross segments,
  // and the largest ones only in the last third, so the merge must pick
  // winners from several segments.
  const int64_t n = 300000;
  const int64_t k = 20;
  std::vector<int32_t> data(n * 3);
  for (int64_t i = 0; i < n * 3; ++i) {
    data[i] = static_cast<int32_t>((i * 2654435761u) % 97);
    if (i / 3 >= 2 * n / 3 && data[i] >= 90) data[i] += 100;
  }
  Tensor x = MakeTensor<int32_t>(DType::kInt32, {n, 3}, data);
  for (bool largest : {true, false}) {
    for (bool sorted : {true, false}) {
      TopKResult r =
          Run(x, {.k = k, .dim = 0, .largest = largest, .sorted = sorted});
      ASSERT_EQ(r.indices.shape(), Shape({k, 3}));
      std::vector<int64_t> indices = Values<int64_t>(r.indices);
      std::vector<int32_t> values = Values<int32_t>(r.values);
      for (int64_t column = 0; column < 3; ++column) {
        std::vector<int64_t> expected(n);
        for (int64_t i = 0; i < n; ++i) expected[i] = i;
        auto at = [&](int64_t i) { return data[i * 3 + column]; };
        std::stable_sort(expected.begin(), expected.end(),
                         [&](int64_t a, int64_t b) {
                           return largest ? at(a) > at(b) : at(a) < at(b);
                         });
        expected.resize(k);
        if (!sorted) std::sort(expected.begin(), expected.end());
        for (int64_t j = 0; j < k; ++j) {
          ASSERT_EQ(indices[j * 3 + column], expected[j])
              << "column " << column << " position " << j;
          ASSERT_EQ(values[j * 3 + column], at(expected[j]));
        }
      }
    }
  }
}

TEST_F(TopKTest, AscendingInputStaysCorrect) {
  // Every element beats the running threshold: exercises buffer pruning.
  const int64_t n = 100000;
  std::vector<int32_t> data(n);
  for (int64_t i = 0; i < n; ++i) data[i] = static_cast<int32_t>(i);
  TopKResult r =
      Run(MakeTensor<int32_t>(DType::kInt32, {1, n}, data), {.k = 3});
  EXPECT_THAT(Values<int32_t>(r.values), ElementsAre(n - 1, n - 2, n - 3));
}

}  // namespace
}  // namespace tensorops
