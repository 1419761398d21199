// Oracle tests: CpuBackend against libtorch 1.13 on seeded random cases, and
// against the reference selection that defines tensorops' order among ties.
//
// Every case is rebuilt from (dtype, seed index) alone, so a failure message's
// "case #N" reruns by itself.
#include <c10/util/Logging.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "core/backend.h"
#include "core/cpu/cpu_backend.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/core/topk_oracle_check.h"
#include "tests/core/torch_oracle_support.h"
#include "tests/core/torch_tensors.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops {
namespace {

using ::tensorops::testing::BytesOf;
using ::tensorops::testing::CheckTopK;
using ::tensorops::testing::CompareOrder;
using ::tensorops::testing::Coverage;
using ::tensorops::testing::Describe;
using ::tensorops::testing::DTypeFamily;
using ::tensorops::testing::DTypeOfTorch;
using ::tensorops::testing::FamilyName;
using ::tensorops::testing::FromTorch;
using ::tensorops::testing::GeometryOf;
using ::tensorops::testing::HasValuesAndIndices;
using ::tensorops::testing::HexBits;
using ::tensorops::testing::Join;
using ::tensorops::testing::KeyToString;
using ::tensorops::testing::kTopKDTypes;
using ::tensorops::testing::OrderKey;
using ::tensorops::testing::OrderKeysOf;
using ::tensorops::testing::ReferenceSelect;
using ::tensorops::testing::ReferenceTopK;
using ::tensorops::testing::SameBits;
using ::tensorops::testing::SizesOf;
using ::tensorops::testing::SliceGeometry;
using ::tensorops::testing::StatusIs;
using ::tensorops::testing::TopKCase;
using ::tensorops::testing::TopKDTypesOf;
using ::tensorops::testing::TorchOracleTest;
using ::tensorops::testing::TorchTypeOf;
using ::tensorops::testing::ToTorch;
using ::tensorops::testing::ValueMix;
using ::tensorops::testing::WrapDimOrMinusOne;

constexpr int64_t kRandomCasesPerDType = 400;
static_assert(kRandomCasesPerDType * std::size(kTopKDTypes) >= 1000,
              "the oracle must cover at least 1000 random topk cases");

// Past this many failing cases of one dtype the rest add only noise.
constexpr int kMaxReportedFailures = 5;

// ---- Tests. ----

class TopKOracleTest : public TorchOracleTest,
                       public ::testing::WithParamInterface<DTypeFamily> {};

TEST_P(TopKOracleTest, RandomCasesMatchTorchAndReference) {
  const std::vector<DType> dtypes = TopKDTypesOf(GetParam());
  int64_t cases_passed = 0;
  for (DType dtype : dtypes) {
    SCOPED_TRACE(DTypeName(dtype));
    Coverage coverage;
    int failures = 0;
    for (int64_t seed_index = 0;
         seed_index < kRandomCasesPerDType && failures < kMaxReportedFailures;
         ++seed_index) {
      const TopKCase c = tensorops::testing::RandomTopKCase(dtype, seed_index);
      if (::testing::AssertionResult result = CheckTopK(backend_, c, coverage);
          !result) {
        ++failures;
        ADD_FAILURE() << result.message() << "\n  " << Describe(c);
      }
    }
    cases_passed += coverage.cases;
    // The generator reached every situation the oracle is meant to probe.
    EXPECT_GT(coverage.rank0, 0);
    EXPECT_GT(coverage.zero_size, 0);
    EXPECT_GT(coverage.k_zero, 0);
    EXPECT_GT(coverage.k_full, 0);
    EXPECT_GT(coverage.negative_dim, 0);
    EXPECT_GT(coverage.inner_dim, 0);
    EXPECT_GT(coverage.smallest, 0);
    EXPECT_GT(coverage.unsorted, 0);
    EXPECT_GT(coverage.all_equal, 0);
    EXPECT_GT(coverage.tied_selection, 0);
    if (IsFloatingPoint(dtype)) {
      EXPECT_GT(coverage.nan, 0);
      EXPECT_GT(coverage.infinity, 0);
      EXPECT_GT(coverage.negative_zero, 0);
      EXPECT_GT(coverage.backward, 0);
    }
  }
  EXPECT_EQ(cases_passed,
            kRandomCasesPerDType * static_cast<int64_t>(dtypes.size()));
}

INSTANTIATE_TEST_SUITE_P(ByFamily, TopKOracleTest,
                         ::testing::Values(DTypeFamily::kFloating,
                                           DTypeFamily::kInteger),
                         FamilyName);

// Rows long enough for the kernel to split one row across threads, and one
// long non-last dimension.
struct LongRowCase {
  const char* name;
  DType dtype;
  Shape shape;
  TopKOptions options;
  ValueMix mix;
  int pool_size;
};

const LongRowCase kLongRowCases[] = {
    {"Float32MillionCoarse",
     DType::kFloat32,
     {1, 1000000},
     {7, -1, true, true},
     ValueMix::kCoarse,
     0},
    {"Float32WideSmallestUnsorted",
     DType::kFloat32,
     {400000},
     {1000, 0, false, false},
     ValueMix::kWide,
     0},
    {"Float64TwoRowsPool3",
     DType::kFloat64,
     {2, 300000},
     {5000, 1, true, true},
     ValueMix::kPool,
     3},
    {"BFloat16ThreeRowsHalfKPool2",
     DType::kBFloat16,
     {3, 150000},
     {75000, -1, false, true},
     ValueMix::kPool,
     2},
    {"Float16WholeRowRandomBits",
     DType::kFloat16,
     {200000},
     {200000, -1, true, false},
     ValueMix::kRandomBits,
     0},
    {"Int64RowWide",
     DType::kInt64,
     {1, 400000},
     {64, -1, true, true},
     ValueMix::kWide,
     0},
    {"UInt8RowAllEqual",
     DType::kUInt8,
     {500000},
     {1000, 0, true, true},
     ValueMix::kPool,
     1},
    {"Int32TwoRowsWholeUnsorted",
     DType::kInt32,
     {2, 131072},
     {131072, -1, true, false},
     ValueMix::kCoarse,
     0},
    {"Int16RowSmallestPool4",
     DType::kInt16,
     {262144},
     {3000, -1, false, true},
     ValueMix::kPool,
     4},
    {"Float32LongNonLastDim",
     DType::kFloat32,
     {70000, 3},
     {100, 0, true, true},
     ValueMix::kCoarse,
     0},
    // Many column blocks along dim 0 with k > 16: guessed thresholds, the
    // column queue and rank ordering, with ties (coarse values, a pool).
    {"Float32ManyColumnsCoarse",
     DType::kFloat32,
     {700, 4100},
     {50, 0, true, true},
     ValueMix::kCoarse,
     0},
    {"BFloat16ManyColumnsSmallestPool",
     DType::kBFloat16,
     {600, 3000},
     {30, 0, false, true},
     ValueMix::kPool,
     40},
    {"Int32ManyColumnsCoarse",
     DType::kInt32,
     {500, 2600},
     {40, -2, true, true},
     ValueMix::kCoarse,
     0},
};

class TopKLongRowOracleTest : public TopKOracleTest {};

TEST_P(TopKLongRowOracleTest, MatchesTorchAndReference) {
  const DTypeFamily family = GetParam();
  int cases_passed = 0;
  for (const LongRowCase& spec : kLongRowCases) {
    if (IsFloatingPoint(spec.dtype) != (family == DTypeFamily::kFloating)) {
      continue;
    }
    SCOPED_TRACE(spec.name);
    const TopKCase c = tensorops::testing::MakeTopKCase(
        spec.dtype, /*seed_index=*/1000000, spec.shape, spec.options, spec.mix,
        spec.pool_size);
    Coverage coverage;
    ::testing::AssertionResult result = CheckTopK(backend_, c, coverage);
    EXPECT_TRUE(result) << Describe(c);
    cases_passed += coverage.cases;
  }
  EXPECT_GE(cases_passed, 4);
}

INSTANTIATE_TEST_SUITE_P(ByFamily, TopKLongRowOracleTest,
                         ::testing::Values(DTypeFamily::kFloating,
                                           DTypeFamily::kInteger),
                         FamilyName);

// Valid and invalid (k, dim) combinations are accepted and rejected alike.
TEST_F(TorchOracleTest, RejectsTheSameKAndDimAsTorch) {
  constexpr int kCombinations = 400;
  int rejected = 0;
  int accepted = 0;
  for (int n = 0; n < kCombinations; ++n) {
    const DType dtype = kTopKDTypes[n % std::size(kTopKDTypes)];
    tensorops::testing::Rng rng =
        tensorops::testing::RngFor(dtype, n, /*salt=*/2);
    const Shape shape = tensorops::testing::RandomShape(rng, 256);
    const int64_t rank = static_cast<int64_t>(shape.size());
    const int64_t dim_extent = std::max<int64_t>(rank, 1);
    TopKOptions options;
    options.largest = tensorops::testing::Chance(rng, 50);
    options.sorted = tensorops::testing::Chance(rng, 50);
    if (tensorops::testing::Chance(rng, 50)) {
      options.dim =
          tensorops::testing::Uniform(rng, -dim_extent, dim_extent - 1);
    } else if (tensorops::testing::Chance(rng, 50)) {
      options.dim =
          tensorops::testing::Uniform(rng, -dim_extent - 3, -dim_extent - 1);
    } else {
      options.dim =
          tensorops::testing::Uniform(rng, dim_extent, dim_extent + 2);
    }
    const int64_t wrapped = WrapDimOrMinusOne(options.dim, rank);
    const int64_t size = wrapped < 0 ? 4 : rank == 0 ? 1 : shape[wrapped];
    if (tensorops::testing::Chance(rng, 40)) {
      options.k = tensorops::testing::Uniform(rng, 0, size);
    } else if (tensorops::testing::Chance(rng, 50)) {
      options.k = tensorops::testing::Uniform(rng, -3, -1);
    } else {
      options.k = tensorops::testing::Uniform(rng, size + 1, size + 3);
    }
    // Built by hand: MakeTopKCase sizes a gradient from k, which may be bad.
    TopKCase c;
    c.seed_index = n;
    c.dtype = dtype;
    c.shape = shape;
    c.options = options;
    c.mix = ValueMix::kCoarse;
    int64_t numel = 1;
    for (int64_t extent : shape) numel *= extent;
    c.input = tensorops::testing::RandomValues(rng, dtype, numel,
                                               ValueMix::kCoarse, 0);
    const absl::StatusOr<Tensor> input = Tensor::CopyOf(dtype, shape, c.input);
    ASSERT_TRUE(input.ok()) << input.status();
    const absl::StatusOr<TopKResult> ours = backend_.TopK(*input, options);
    torch::Tensor x = ToTorch(*input);
    if (dtype == DType::kFloat16) x = x.to(torch::kFloat);
    bool torch_accepts = true;
    std::string torch_error;
    try {
      torch::topk(x, options.k, options.dim, options.largest, options.sorted);
    } catch (const c10::Error& e) {
      torch_accepts = false;
      torch_error = e.what_without_backtrace();
    }
    EXPECT_EQ(ours.ok(), torch_accepts)
        << "ours: " << ours.status()
        << "; torch: " << (torch_accepts ? "accepted" : torch_error) << "\n  "
        << Describe(c);
    if (!ours.ok()) {
      EXPECT_THAT(ours, StatusIs(absl::StatusCode::kInvalidArgument));
    }
    torch_accepts ? ++accepted : ++rejected;
  }
  EXPECT_GE(rejected, 250);
  EXPECT_GE(accepted, 50);
}

// topk on bool is rejected by us everywhere and by libtorch for rank >= 1.
// (libtorch 1.13 returns a 0-d bool input unchanged before checking its dtype;
// tensorops rejects bool uniformly, as its contract says.)
TEST_F(TorchOracleTest, BoolTopKRejectedLikeTorch) {
  int torch_checked = 0;
  for (int n = 0; n < 60; ++n) {
    tensorops::testing::Rng rng =
        tensorops::testing::RngFor(DType::kBool, n, /*salt=*/4);
    const Shape shape = tensorops::testing::RandomShape(rng, 512);
    const int64_t rank = static_cast<int64_t>(shape.size());
    TopKOptions options;
    options.dim = rank == 0 ? tensorops::testing::Uniform(rng, -1, 0)
                            : tensorops::testing::Uniform(rng, -rank, rank - 1);
    const int64_t size =
        rank == 0 ? 1 : shape[WrapDimOrMinusOne(options.dim, rank)];
    options.k = tensorops::testing::Uniform(rng, 0, size);
    options.largest = tensorops::testing::Chance(rng, 50);
    options.sorted = tensorops::testing::Chance(rng, 50);
    std::vector<uint8_t> bits;
    int64_t numel = 1;
    for (int64_t extent : shape) numel *= extent;
    for (int64_t i = 0; i < numel; ++i) {
      bits.push_back(tensorops::testing::Chance(rng, 50));
    }
    const Tensor input =
        tensorops::testing::MakeTensor<uint8_t>(DType::kBool, shape, bits);
    const std::string description =
        absl::StrCat("bool case #", n, " shape=", ShapeToString(shape),
                     " dim=", options.dim, " k=", options.k);
    EXPECT_THAT(backend_.TopK(input, options),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << description;
    if (rank == 0) continue;
    EXPECT_THROW(torch::topk(ToTorch(input), options.k, options.dim,
                             options.largest, options.sorted),
                 c10::Error)
        << description;
    ++torch_checked;
  }
  EXPECT_GE(torch_checked, 40);
}

// zeros_like / ones_like of random shapes of `like_dtype`, with and without
// a dtype override, equal torch's bit for bit (bool ones are the byte 1).
void CheckFillsLike(Backend& backend, DType like_dtype) {
  constexpr int kShapes = 60;
  int cases = 0;
  int rank0 = 0;
  int zero_size = 0;
  int overridden = 0;
  for (int n = 0; n < kShapes; ++n) {
    tensorops::testing::Rng rng =
        tensorops::testing::RngFor(like_dtype, n, /*salt=*/3);
    const Shape shape = tensorops::testing::RandomShape(rng, 4096);
    std::optional<DType> override_dtype;
    if (tensorops::testing::Chance(rng, 30)) {
      override_dtype = kAllDTypes[tensorops::testing::Uniform(
          rng, 0, std::size(kAllDTypes) - 1)];
    }
    const absl::StatusOr<Tensor> like = Tensor::Allocate(like_dtype, shape);
    ASSERT_TRUE(like.ok()) << like.status();
    const torch::Tensor torch_like = torch::empty(
        shape, torch::TensorOptions().dtype(TorchTypeOf(like_dtype)));
    torch::TensorOptions torch_options;
    if (override_dtype) {
      torch_options = torch_options.dtype(TorchTypeOf(*override_dtype));
    }
    const std::string description =
        absl::StrCat("shape #", n, " ", ShapeToString(shape), " like ",
                     DTypeName(like_dtype), " dtype ",
                     override_dtype ? DTypeName(*override_dtype) : "(like's)");

    const absl::StatusOr<Tensor> zeros =
        ZerosLike(backend, *like, override_dtype);
    ASSERT_TRUE(zeros.ok()) << zeros.status() << "\n  " << description;
    EXPECT_TRUE(SameBits("zeros_like", *zeros,
                         torch::zeros_like(torch_like, torch_options)))
        << description;
    const absl::StatusOr<Tensor> ones =
        OnesLike(backend, *like, override_dtype);
    ASSERT_TRUE(ones.ok()) << ones.status() << "\n  " << description;
    EXPECT_TRUE(SameBits("ones_like", *ones,
                         torch::ones_like(torch_like, torch_options)))
        << description;
    ++cases;
    rank0 += shape.empty();
    zero_size += like->num_elements() == 0;
    overridden += override_dtype.has_value();
  }
  EXPECT_EQ(cases, kShapes);
  EXPECT_GT(rank0, 0);
  EXPECT_GT(zero_size, 0);
  EXPECT_GT(overridden, 0);
}

TEST_F(TorchOracleTest, ZerosAndOnesLikeMatchTorchBitwise) {
  for (DType like_dtype : kAllDTypes) {
    SCOPED_TRACE(DTypeName(like_dtype));
    CheckFillsLike(backend_, like_dtype);
  }
}

}  // namespace
}  // namespace tensorops
