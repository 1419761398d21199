// Edge-case tests of Backend::Select against libtorch 1.13: the calls
// PyTorch refuses (size-0 reductions, k or dim out of range, bool for
// kthvalue and median), sort without elements, and 0-d inputs.

#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/backend.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/core/selection_oracle_support.h"
#include "tests/core/torch_oracle_support.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops {
namespace {

using ::tensorops::testing::BytesOf;
using ::tensorops::testing::CompareOrder;
using ::tensorops::testing::DTypeOfTorch;
using ::tensorops::testing::HexBits;
using ::tensorops::testing::IndicesOf;
using ::tensorops::testing::kAllKinds;
using ::tensorops::testing::Options;
using ::tensorops::testing::OrderKeysOf;
using ::tensorops::testing::RandomInput;
using ::tensorops::testing::RunTorch;
using ::tensorops::testing::SameBits;
using ::tensorops::testing::SelectionOracleTest;
using ::tensorops::testing::SizesOf;
using ::tensorops::testing::StatusIs;
using ::tensorops::testing::TakesBool;
using ::tensorops::testing::TorchSelection;
using ::tensorops::testing::TorchViaFloat32;
using ::tensorops::testing::ToTorch;
using ::tensorops::testing::ValueMix;
using ::tensorops::testing::WrapDimOrMinusOne;

// Whether libtorch accepts the call; its message in `error` if not.
bool TorchAccepts(const Tensor& input, const SelectionOptions& options,
                  std::string& error) {
  torch::Tensor x = ToTorch(input);
  if (TorchViaFloat32(options.kind, input.dtype())) x = x.to(torch::kFloat);
  try {
    RunTorch(x, options);
  } catch (const c10::Error& e) {
    error = e.what_without_backtrace();
    return false;
  }
  return true;
}

std::string Call(const Tensor& input, const SelectionOptions& options) {
  return absl::StrCat(SelectionKindName(options.kind), " of ",
                      DTypeName(input.dtype()), " ",
                      ShapeToString(input.shape()), " dim=", options.dim,
                      " k=", options.k, " keepdim=", options.keepdim);
}

// Reducing a dimension of size 0 is refused by max, min, median and
// kthvalue (any k), with INVALID_ARGUMENT, as libtorch raises.
TEST_F(SelectionOracleTest, ReductionOverSizeZeroDimIsRefusedLikeTorch) {
  int refused = 0;
  for (int n = 0; n < 120; ++n) {
    const DType dtype = kAllDTypes[n % std::size(kAllDTypes)];
    tensorops::testing::Rng rng =
        tensorops::testing::RngFor(dtype, n, /*salt=*/20);
    Shape shape(tensorops::testing::Uniform(rng, 1, 4));
    for (int64_t& extent : shape)
      extent = tensorops::testing::Uniform(rng, 0, 4);
    const int64_t rank = static_cast<int64_t>(shape.size());
    const int64_t dim = tensorops::testing::Uniform(rng, -rank, rank - 1);
    shape[WrapDimOrMinusOne(dim, rank)] = 0;
    const Tensor input = RandomInput(rng, dtype, shape);
    for (SelectionKind kind :
         {SelectionKind::kMax, SelectionKind::kMin, SelectionKind::kMedian,
          SelectionKind::kKthValue}) {
      if (dtype == DType::kBool && !TakesBool(kind)) continue;
      SelectionOptions options =
          Options(kind, dim, tensorops::testing::Chance(rng, 50));
      options.k = tensorops::testing::Uniform(rng, 0, 2);
      std::string torch_error;
      EXPECT_FALSE(TorchAccepts(input, options, torch_error))
          << Call(input, options);
      EXPECT_THAT(backend_.Select(input, options),
                  StatusIs(absl::StatusCode::kInvalidArgument))
          << Call(input, options);
      ++refused;
    }
  }
  EXPECT_GE(refused, 400);
}

// Sort along a dimension of size 0 (or of any tensor without elements)
// returns empty values and indices of the input's shape, as libtorch does.
TEST_F(SelectionOracleTest, SortWithoutElementsReturnsEmptyLikeTorch) {
  int checked = 0;
  for (int n = 0; n < 60; ++n) {
    const DType dtype = kAllDTypes[n % std::size(kAllDTypes)];
    tensorops::testing::Rng rng =
        tensorops::testing::RngFor(dtype, n, /*salt=*/21);
    Shape shape(tensorops::testing::Uniform(rng, 1, 4));
    for (int64_t& extent : shape)
      extent = tensorops::testing::Uniform(rng, 0, 4);
    const int64_t rank = static_cast<int64_t>(shape.size());
    const int64_t dim = tensorops::testing::Uniform(rng, -rank, rank - 1);
    shape[WrapDimOrMinusOne(tensorops::testing::Uniform(rng, -rank, rank - 1),
                            rank)] = 0;
    const Tensor input = RandomInput(rng, dtype, shape);
    const SelectionOptions options = Options(
        SelectionKind::kSort, dim, false, tensorops::testing::Chance(rng, 50));
    const absl::StatusOr<SelectionResult> ours =
        backend_.Select(input, options);
    ASSERT_TRUE(ours.ok()) << ours.status() << "\n  " << Call(input, options);
    const TorchSelection theirs = RunTorch(ToTorch(input), options);
    EXPECT_TRUE(SameBits("values", ours->values, theirs.values))
        << Call(input, options);
    EXPECT_EQ(ours->indices.shape(), SizesOf(theirs.indices))
        << Call(input, options);
    EXPECT_EQ(ours->indices.dtype(), DType::kInt64);
    ++checked;
  }
  EXPECT_EQ(checked, 60);
}

// kthvalue refuses k outside [1, size(dim)] with INVALID_ARGUMENT, as
// libtorch raises; k inside it is accepted by both.
TEST_F(SelectionOracleTest, KthValueKOutOfRangeIsRefusedLikeTorch) {
  int refused = 0;
  int accepted = 0;
  for (int n = 0; n < 200; ++n) {
    const DType dtype = kAllDTypes[n % std::size(kAllDTypes)];
    if (dtype == DType::kBool) continue;
    tensorops::testing::Rng rng =
        tensorops::testing::RngFor(dtype, n, /*salt=*/22);
    Shape shape = tensorops::testing::RandomShape(rng, 256);
    const int64_t rank = static_cast<int64_t>(shape.size());
    const int64_t dim = rank == 0
                            ? tensorops::testing::Uniform(rng, -1, 0)
                            : tensorops::testing::Uniform(rng, -rank, rank - 1);
    if (rank > 0 && shape[WrapDimOrMinusOne(dim, rank)] == 0) {
      shape[WrapDimOrMinusOne(dim, rank)] = 3;
    }
    const int64_t size = rank == 0 ? 1 : shape[WrapDimOrMinusOne(dim, rank)];
    SelectionOptions options = Options(SelectionKind::kKthValue, dim,
                                       tensorops::testing::Chance(rng, 50));
    const int64_t pick = tensorops::testing::Uniform(rng, 0, 99);
    options.k = pick < 30 ? tensorops::testing::Uniform(rng, -3, 0)
                : pick < 70
                    ? tensorops::testing::Uniform(rng, size + 1, size + 3)
                    : tensorops::testing::Uniform(rng, 1, size);
    const Tensor input = RandomInput(rng, dtype, shape);
    std::string torch_error;
    const bool torch_accepts = TorchAccepts(input, options, torch_error);
    const bool in_range = options.k >= 1 && options.k <= size;
    EXPECT_EQ(torch_accepts, in_range)
        << torch_error << "\n  " << Call(input, options);
    const absl::StatusOr<SelectionResult> ours =
        backend_.Select(input, options);
    if (in_range) {
      EXPECT_TRUE(ours.ok()) << ours.status() << "\n  " << Call(input, options);
      ++accepted;
    } else {
      EXPECT_THAT(ours, StatusIs(absl::StatusCode::kInvalidArgument))
          << Call(input, options);
      ++refused;
    }
  }
  EXPECT_GE(refused, 80);
  EXPECT_GE(accepted, 30);
}

// A dim outside [-rank, rank) (0-d: outside {-1, 0}) is refused by every
// kind with INVALID_ARGUMENT, as libtorch raises.
TEST_F(SelectionOracleTest, DimOutOfRangeIsRefusedLikeTorch) {
  int refused = 0;
  for (int n = 0; n < 100; ++n) {
    const DType dtype = kAllDTypes[n % std::size(kAllDTypes)];
    tensorops::testing::Rng rng =
        tensorops::testing::RngFor(dtype, n, /*salt=*/23);
    Shape shape = tensorops::testing::RandomShape(rng, 256);
    for (int64_t& extent : shape) extent = std::max<int64_t>(extent, 1);
    const int64_t extent = std::max<int64_t>(shape.size(), 1);
    const int64_t dim =
        tensorops::testing::Chance(rng, 50)
            ? tensorops::testing::Uniform(rng, extent, extent + 2)
            : tensorops::testing::Uniform(rng, -extent - 3, -extent - 1);
    const Tensor input = RandomInput(rng, dtype, shape);
    for (SelectionKind kind : kAllKinds) {
      if (dtype == DType::kBool && !TakesBool(kind)) continue;
      const SelectionOptions options = Options(kind, dim);
      std::string torch_error;
      EXPECT_FALSE(TorchAccepts(input, options, torch_error))
          << Call(input, options);
      EXPECT_THAT(backend_.Select(input, options),
                  StatusIs(absl::StatusCode::kInvalidArgument))
          << Call(input, options);
      ++refused;
    }
  }
  EXPECT_GE(refused, 450);
}

// kthvalue and median refuse bool with INVALID_ARGUMENT, whatever the
// shape; libtorch 1.13 raises too (checked where the input has rank >= 1).
TEST_F(SelectionOracleTest, BoolIsRefusedByKthValueAndMedianLikeTorch) {
  int torch_checked = 0;
  for (int n = 0; n < 60; ++n) {
    tensorops::testing::Rng rng =
        tensorops::testing::RngFor(DType::kBool, n, /*salt=*/24);
    Shape shape = tensorops::testing::RandomShape(rng, 256);
    const int64_t rank = static_cast<int64_t>(shape.size());
    const int64_t dim = rank == 0
                            ? tensorops::testing::Uniform(rng, -1, 0)
                            : tensorops::testing::Uniform(rng, -rank, rank - 1);
    for (int64_t& extent : shape) extent = std::max<int64_t>(extent, 1);
    const Tensor input = RandomInput(rng, DType::kBool, shape);
    for (SelectionKind kind :
         {SelectionKind::kKthValue, SelectionKind::kMedian}) {
      const SelectionOptions options =
          Options(kind, dim, tensorops::testing::Chance(rng, 50));
      EXPECT_THAT(backend_.Select(input, options),
                  StatusIs(absl::StatusCode::kInvalidArgument,
                           ::testing::HasSubstr("bool")))
          << Call(input, options);
      if (rank == 0) continue;
      std::string torch_error;
      EXPECT_FALSE(TorchAccepts(input, options, torch_error))
          << Call(input, options);
      ++torch_checked;
    }
  }
  EXPECT_GE(torch_checked, 80);
}

// A 0-d input, with dim 0 or -1 (kthvalue: k = 1) and either keepdim,
// returns itself bit for bit (signalling NaNs included) as a 0-d value
// with index 0; libtorch returns the same shape, index and value.
TEST_F(SelectionOracleTest, ZeroDimInputReturnsItselfWithIndexZero) {
  int checked = 0;
  for (DType dtype : kAllDTypes) {
    for (int n = 0; n < 12; ++n) {
      tensorops::testing::Rng rng =
          tensorops::testing::RngFor(dtype, n, /*salt=*/25);
      // kPool draws specials (NaNs of every kind, +-inf, +-0.0) a third of
      // the time.
      const Tensor special = RandomInput(
          rng, dtype, {}, n % 2 == 0 ? ValueMix::kPool : ValueMix::kRandomBits);
      for (SelectionKind kind : kAllKinds) {
        if (dtype == DType::kBool && !TakesBool(kind)) continue;
        const SelectionOptions options =
            Options(kind, n % 4 < 2 ? 0 : -1, n % 3 == 0);
        const std::string call = Call(special, options);
        const absl::StatusOr<SelectionResult> ours =
            backend_.Select(special, options);
        ASSERT_TRUE(ours.ok()) << ours.status() << "\n  " << call;
        EXPECT_EQ(ours->values.shape(), Shape{}) << call;
        EXPECT_EQ(ours->indices.shape(), Shape{}) << call;
        ASSERT_EQ(ours->values.dtype(), dtype) << call;
        EXPECT_EQ(tensorops::testing::Values<int64_t>(ours->indices),
                  std::vector<int64_t>{0})
            << call;
        EXPECT_EQ(0, std::memcmp(ours->values.data(), special.data(),
                                 DTypeSize(dtype)))
            << call << ": value "
            << HexBits(ours->values.data(), DTypeSize(dtype)) << ", input "
            << HexBits(special.data(), DTypeSize(dtype));
        torch::Tensor x = ToTorch(special);
        if (TorchViaFloat32(kind, dtype)) x = x.to(torch::kFloat);
        const TorchSelection theirs = RunTorch(x, options);
        EXPECT_EQ(SizesOf(theirs.values), std::vector<int64_t>{}) << call;
        EXPECT_EQ(IndicesOf(theirs.indices), std::vector<int64_t>{0}) << call;
        const torch::Tensor torch_values = theirs.values.contiguous();
        EXPECT_EQ(
            CompareOrder(OrderKeysOf(dtype, ours->values.bytes())[0],
                         OrderKeysOf(DTypeOfTorch(torch_values.scalar_type()),
                                     BytesOf(torch_values))[0]),
            0)
            << call;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 12 * (5 * 9 + 3));
}

}  // namespace
}  // namespace tensorops
