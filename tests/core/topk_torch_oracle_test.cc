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
#include "tests/core/torch_oracle_support.h"
#include "tests/core/torch_tensors.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops {
namespace {

using ::tensorops::testing::BytesOf;
using ::tensorops::testing::CompareOrder;
using ::tensorops::testing::Describe;
using ::tensorops::testing::DTypeOfTorch;
using ::tensorops::testing::FromTorch;
using ::tensorops::testing::GeometryOf;
using ::tensorops::testing::HasValuesAndIndices;
using ::tensorops::testing::HexBits;
using ::tensorops::testing::Join;
using ::tensorops::testing::KeyToString;
using ::tensorops::testing::OrderKey;
using ::tensorops::testing::OrderKeysOf;
using ::tensorops::testing::ReferenceSelect;
using ::tensorops::testing::ReferenceTopK;
using ::tensorops::testing::SameBits;
using ::tensorops::testing::SizesOf;
using ::tensorops::testing::SliceGeometry;
using ::tensorops::testing::StatusIs;
using ::tensorops::testing::TopKCase;
using ::tensorops::testing::TorchTypeOf;
using ::tensorops::testing::ToTorch;
using ::tensorops::testing::ValueMix;
using ::tensorops::testing::WrapDimOrMinusOne;

constexpr DType kTopKDTypes[] = {
    DType::kFloat32,  DType::kFloat64, DType::kFloat16,
    DType::kBFloat16, DType::kInt8,    DType::kInt16,
    DType::kInt32,    DType::kInt64,   DType::kUInt8};

constexpr int64_t kRandomCasesPerDType = 400;
static_assert(kRandomCasesPerDType * std::size(kTopKDTypes) >= 1000,
              "the oracle must cover at least 1000 random topk cases");

// Past this many failing cases of one dtype the rest add only noise.
constexpr int kMaxReportedFailures = 5;

// ---- The topk check. ----

// Situations the random cases reached; each test asserts it saw all of them.
struct Coverage {
  int64_t cases = 0;
  int64_t rank0 = 0;
  int64_t zero_size = 0;
  int64_t k_zero = 0;
  int64_t k_full = 0;
  int64_t negative_dim = 0;
  int64_t inner_dim = 0;  // non-last dim with inner size > 1
  int64_t smallest = 0;
  int64_t unsorted = 0;
  int64_t all_equal = 0;
  int64_t tied_selection = 0;  // some selected value ties another element
  int64_t nan = 0;
  int64_t infinity = 0;
  int64_t negative_zero = 0;
  int64_t backward = 0;
};

void Record(const TopKCase& c, const SliceGeometry& g,
            const std::vector<OrderKey>& keys, const ReferenceTopK& ref,
            Coverage& coverage) {
  const int64_t rank = static_cast<int64_t>(c.shape.size());
  const int64_t numel = static_cast<int64_t>(keys.size());
  ++coverage.cases;
  coverage.rank0 += rank == 0;
  coverage.zero_size += numel == 0;
  coverage.k_zero += rank > 0 && c.options.k == 0;
  coverage.k_full += g.size > 1 && c.options.k == g.size;
  coverage.negative_dim += c.options.dim < 0;
  coverage.inner_dim += g.inner > 1 && g.size > 1;
  coverage.smallest += !c.options.largest;
  coverage.unsorted += !c.options.sorted;
  coverage.all_equal +=
      c.mix == ValueMix::kPool && c.pool_size == 1 && g.size > 1 && numel > 0;
  bool tied = false;
  const int64_t k = rank == 0 ? 1 : c.options.k;
  for (int64_t o = 0; o < g.outer && !tied; ++o) {
    for (int64_t j = 0; j < k && !tied; ++j) {
      for (int64_t i = 0; i < g.inner && !tied; ++i) {
        tied = !ref.unique_in_slice[g.At(o, ref.indices[g.At(o, j, i, k)], i,
                                         g.size)];
      }
    }
  }
  coverage.tied_selection += tied;
  coverage.nan += std::any_of(keys.begin(), keys.end(),
                              [](const OrderKey& key) { return key.is_nan; });
  coverage.infinity +=
      std::any_of(keys.begin(), keys.end(),
                  [](const OrderKey& key) { return std::isinf(key.real); });
  coverage.negative_zero +=
      std::any_of(keys.begin(), keys.end(), [](const OrderKey& key) {
        return key.real == 0 && std::signbit(key.real);
      });
  coverage.backward += IsFloatingPoint(c.dtype) && numel > 0 && k > 0;
}

// Our values and indices equal the reference selection exactly, and every
// value is the input element at its index, bit for bit.
::testing::AssertionResult MatchesReference(const TopKCase& c,
                                            const SliceGeometry& g,
                                            const ReferenceTopK& ref,
                                            const TopKResult& ours) {
  if (::testing::AssertionResult shapes =
          HasValuesAndIndices(ours, c.dtype, ref.output_shape);
      !shapes) {
    return shapes;
  }
  const std::vector<int64_t> indices =
      tensorops::testing::Values<int64_t>(ours.indices);
  const int64_t k = static_cast<int64_t>(ref.indices.size()) /
                    std::max<int64_t>(1, g.outer * g.inner);
  const size_t size = DTypeSize(c.dtype);
  if (indices != ref.indices) {
    // Name the first slice that differs, with its values.
    const int64_t first =
        std::mismatch(indices.begin(), indices.end(), ref.indices.begin())
            .first -
        indices.begin();
    const int64_t o = first / (k * g.inner);
    const int64_t i = first % g.inner;
    std::vector<int64_t> our_slice, ref_slice;
    std::vector<std::string> slice_values;
    for (int64_t j = 0; j < k; ++j) {
      our_slice.push_back(indices[g.At(o, j, i, k)]);
      ref_slice.push_back(ref.indices[g.At(o, j, i, k)]);
    }
    for (int64_t s = 0; s < g.size; ++s) {
      slice_values.push_back(
          HexBits(c.input.data() + g.At(o, s, i, g.size) * size, size));
    }
    return ::testing::AssertionFailure()
           << "indices differ from the reference selection at output element "
           << first << ", in slice (outer " << o << ", inner " << i
           << ")\n  ours:      " << Join(our_slice)
           << "\n  reference: " << Join(ref_slice)
           << "\n  slice values: " << Join(slice_values);
  }
  for (int64_t o = 0; o < g.outer; ++o) {
    for (int64_t j = 0; j < k; ++j) {
      for (int64_t i = 0; i < g.inner; ++i) {
        const int64_t out = g.At(o, j, i, k);
        const int64_t in = g.At(o, indices[out], i, g.size);
        const std::byte* value = ours.values.data() + out * size;
        if (std::memcmp(value, c.input.data() + in * size, size) != 0) {
          return ::testing::AssertionFailure()
                 << "value at output element " << out << " is "
                 << HexBits(value, size) << " but the input element at its "
                 << "index " << indices[out] << " is "
                 << HexBits(c.input.data() + in * size, size);
        }
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// Torch's selection agrees with ours: the same values under topk's order at
// every position (sorted) or per slice as a multiset (unsorted), and the same
// index wherever the value has no equal in its slice.
::testing::AssertionResult MatchesTorchSelection(
    const SliceGeometry& g, const ReferenceTopK& ref,
    const std::vector<OrderKey>& our_keys, const std::vector<int64_t>& ours,
    const std::vector<OrderKey>& torch_keys,
    const std::vector<int64_t>& torch_indices, bool sorted) {
  const int64_t k = static_cast<int64_t>(ours.size()) /
                    std::max<int64_t>(1, g.outer * g.inner);
  for (int64_t o = 0; o < g.outer; ++o) {
    for (int64_t i = 0; i < g.inner; ++i) {
      std::vector<OrderKey> our_slice, torch_slice;
      std::set<int64_t> our_set;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t out = g.At(o, j, i, k);
        const int64_t t = torch_indices[out];
        if (t < 0 || t >= g.size) {
          return ::testing::AssertionFailure() << "torch returned index " << t
                                               << " at output element " << out;
        }
        const bool unique = ref.unique_in_slice[g.At(o, t, i, g.size)];
        if (sorted) {
          if (CompareOrder(our_keys[out], torch_keys[out]) != 0) {
            return ::testing::AssertionFailure()
                   << "value at output element " << out << ": ours "
                   << KeyToString(our_keys[out]) << " (index " << ours[out]
                   << "), torch " << KeyToString(torch_keys[out]) << " (index "
                   << t << ")";
          }
          if (unique && ours[out] != t) {
            return ::testing::AssertionFailure()
                   << "index at output element " << out << ": ours "
                   << ours[out] << ", torch " << t
                   << " for a value with no tie in its slice";
          }
        }
        our_slice.push_back(our_keys[out]);
        torch_slice.push_back(torch_keys[out]);
        our_set.insert(ours[out]);
      }
      if (sorted) continue;
      const auto before = [](const OrderKey& a, const OrderKey& b) {
        return CompareOrder(a, b) < 0;
      };
      std::sort(our_slice.begin(), our_slice.end(), before);
      std::sort(torch_slice.begin(), torch_slice.end(), before);
      for (int64_t j = 0; j < k; ++j) {
        if (CompareOrder(our_slice[j], torch_slice[j]) != 0) {
          return ::testing::AssertionFailure()
                 << "slice (outer " << o << ", inner " << i
                 << "): the selected values differ as multisets; rank " << j
                 << " ours " << KeyToString(our_slice[j]) << ", torch "
                 << KeyToString(torch_slice[j]);
        }
      }
      for (int64_t j = 0; j < k; ++j) {
        const int64_t t = torch_indices[g.At(o, j, i, k)];
        if (ref.unique_in_slice[g.At(o, t, i, g.size)] && !our_set.count(t)) {
          return ::testing::AssertionFailure()
                 << "slice (outer " << o << ", inner " << i
                 << "): torch selected index " << t
                 << " (a value with no tie) and we did not";
        }
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// Checks one case against the reference, libtorch's topk and, for floating
// dtypes, libtorch's autograd and scatter.
::testing::AssertionResult CheckTopK(Backend& backend, const TopKCase& c,
                                     Coverage& coverage) {
  const absl::StatusOr<Tensor> input =
      Tensor::CopyOf(c.dtype, c.shape, c.input);
  if (!input.ok()) {
    return ::testing::AssertionFailure() << "input: " << input.status();
  }
  const absl::StatusOr<TopKResult> ours = backend.TopK(*input, c.options);
  if (!ours.ok()) {
    return ::testing::AssertionFailure() << "TopK failed: " << ours.status();
  }
  const int64_t rank = static_cast<int64_t>(c.shape.size());
  const SliceGeometry g =
      GeometryOf(c.shape, WrapDimOrMinusOne(c.options.dim, rank));
  const std::vector<OrderKey> keys = OrderKeysOf(c.dtype, c.input);
  const ReferenceTopK ref = ReferenceSelect(keys, c.shape, c.options);
  if (auto result = MatchesReference(c, g, ref, *ours); !result) return result;

  // libtorch 1.13 has no CPU topk for float16; float32 holds every float16
  // exactly and orders them identically.
  const bool floating = IsFloatingPoint(c.dtype);
  const bool via_float32 = c.dtype == DType::kFloat16;
  torch::Tensor x = ToTorch(*input);
  if (via_float32) x = x.to(torch::kFloat);
  if (floating) x.requires_grad_(true);
  torch::Tensor torch_values, torch_indices;
  try {
    std::tie(torch_values, torch_indices) = torch::topk(
        x, c.options.k, c.options.dim, c.options.largest, c.options.sorted);
  } catch (const c10::Error& e) {
    return ::testing::AssertionFailure()
           << "torch rejected a case we accept: " << e.what_without_backtrace();
  }
  if (SizesOf(torch_values) != ref.output_shape ||
      SizesOf(torch_indices) != ref.output_shape) {
    return ::testing::AssertionFailure()
           << "torch's output shape is " << ShapeToString(SizesOf(torch_values))
           << ", ours " << ShapeToString(ref.output_shape);
  }
  const torch::Tensor torch_values_flat = torch_values.detach().contiguous();
  const torch::Tensor torch_indices_flat = torch_indices.contiguous();
  const std::vector<int64_t> torch_index_list(
      torch_indices_flat.data_ptr<int64_t>(),
      torch_indices_flat.data_ptr<int64_t>() + torch_indices_flat.numel());
  if (auto result = MatchesTorchSelection(
          g, ref, OrderKeysOf(c.dtype, ours->values.bytes()),
          tensorops::testing::Values<int64_t>(ours->indices),
          OrderKeysOf(DTypeOfTorch(torch_values_flat.scalar_type()),
                      BytesOf(torch_values_flat)),
          torch_index_list, c.options.sorted);
      !result) {
    return result;
  }

  if (floating) {
    const absl::StatusOr<Tensor> grad =
        Tensor::CopyOf(c.dtype, ref.output_shape, c.grad);
    if (!grad.ok()) {
      return ::testing::AssertionFailure() << "grad: " << grad.status();
    }
    // (a) Our backward, fed torch's indices, reproduces torch's autograd.
    torch::Tensor torch_grad = ToTorch(*grad);
    if (via_float32) torch_grad = torch_grad.to(torch::kFloat);
    torch_values.backward(torch_grad);
    torch::Tensor autograd =
        x.grad().defined() ? x.grad() : torch::zeros_like(x);
    if (via_float32) autograd = autograd.to(torch::kHalf);
    const absl::StatusOr<Tensor> torch_index_tensor = FromTorch(torch_indices);
    if (!torch_index_tensor.ok()) {
      return ::testing::AssertionFailure()
             << "torch indices: " << torch_index_tensor.status();
    }
    const absl::StatusOr<Tensor> backward_a = backend.TopKBackward(
        *grad, *torch_index_tensor, c.shape, c.options.dim);
    if (!backward_a.ok()) {
      return ::testing::AssertionFailure()
             << "TopKBackward with torch's indices failed: "
             << backward_a.status();
    }
    if (auto result = SameBits("TopKBackward(torch indices) vs autograd",
                               *backward_a, autograd);
        !result) {
      return result;
    }
    // (b) Our backward with our indices is torch's scatter of the gradient.
    const absl::StatusOr<Tensor> backward_b =
        backend.TopKBackward(*grad, ours->indices, c.shape, c.options.dim);
    if (!backward_b.ok()) {
      return ::testing::AssertionFailure()
             << "TopKBackward with our indices failed: " << backward_b.status();
    }
    const torch::Tensor scattered =
        torch::zeros(c.shape,
                     torch::TensorOptions().dtype(TorchTypeOf(c.dtype)))
            .scatter(c.options.dim, ToTorch(ours->indices), ToTorch(*grad));
    if (auto result = SameBits("TopKBackward(our indices) vs torch scatter",
                               *backward_b, scattered);
        !result) {
      return result;
    }
  }
  Record(c, g, keys, ref, coverage);
  return ::testing::AssertionSuccess();
}

// ---- Tests. ----

class TorchOracleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Torch's own thread pool would only compete with the backend's two.
    torch::set_num_threads(1);
    // Every c10::Error symbolizes a C++ backtrace (milliseconds each); the
    // rejection tests throw hundreds and never print them.
    c10::SetStackTraceFetcher([] { return std::string(); });
  }

  CpuBackend backend_{CpuBackendOptions{.num_threads = 2}};
};

// Tests are grouped by dtype family: each libtorch process costs a second or
// two to start, and ctest runs every test in its own process.
enum class DTypeFamily { kFloating, kInteger };

std::vector<DType> TopKDTypesOf(DTypeFamily family) {
  std::vector<DType> dtypes;
  for (DType dtype : kTopKDTypes) {
    if (IsFloatingPoint(dtype) == (family == DTypeFamily::kFloating)) {
      dtypes.push_back(dtype);
    }
  }
  return dtypes;
}

std::string FamilyName(const ::testing::TestParamInfo<DTypeFamily>& info) {
  return info.param == DTypeFamily::kFloating ? "Floating" : "Integer";
}

void PrintTo(DTypeFamily family, std::ostream* os) {
  *os << (family == DTypeFamily::kFloating ? "floating" : "integer");
}

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
