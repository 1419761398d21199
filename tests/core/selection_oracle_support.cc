// Helpers of the selection oracle tests: see selection_oracle_support.h.
#include "tests/core/selection_oracle_support.h"

#include <c10/util/Logging.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <ostream>
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
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops::testing {

namespace {

// ---- One case: its geometry, libtorch's results and the checks. ----

// Where the output elements of a case come from: output element e is slice
// (o, i)'s j-th result, read from the input at At(o, index, i, size).
struct CaseGeometry {
  SliceGeometry g;
  int64_t wrapped_dim = 0;
  int64_t per_slice = 1;  // results per slice: size for sort, else 1

  explicit CaseGeometry(const SelectionCase& c) {
    const int64_t rank = static_cast<int64_t>(c.shape.size());
    wrapped_dim = WrapDimOrMinusOne(c.options.dim, rank);
    g = GeometryOf(c.shape, wrapped_dim);
    per_slice = Reduces(c.options.kind) ? 1 : g.size;
  }
  int64_t OuterOf(int64_t e) const { return e / (per_slice * g.inner); }
  int64_t InnerOf(int64_t e) const { return e % g.inner; }
  // Flat input position of output element e if its index is `index`.
  int64_t InputPosition(int64_t e, int64_t index) const {
    return g.At(OuterOf(e), index, InnerOf(e), g.size);
  }
  // The input bits of the slice output element e belongs to.
  std::vector<std::string> SliceBits(const SelectionCase& c, int64_t e) const {
    const size_t size = DTypeSize(c.dtype);
    std::vector<std::string> bits;
    for (int64_t s = 0; s < g.size; ++s) {
      bits.push_back(
          HexBits(c.input.data() + InputPosition(e, s) * size, size));
    }
    return bits;
  }
  // The indices of output element e's slice in `indices`.
  std::vector<int64_t> SliceIndices(const std::vector<int64_t>& indices,
                                    int64_t e) const {
    std::vector<int64_t> slice;
    for (int64_t j = 0; j < per_slice; ++j) {
      slice.push_back(indices[g.At(OuterOf(e), j, InnerOf(e), per_slice)]);
    }
    return slice;
  }
};

// The keep-dim shape of a reduction's results (the input's with dim of
// size 1), which TopKBackward takes; a sort's and a 0-d input's are their
// own.
Shape KeepDimShape(const SelectionCase& c, const CaseGeometry& geometry) {
  Shape shape = c.shape;
  if (Reduces(c.options.kind) && !shape.empty()) {
    shape[geometry.wrapped_dim] = 1;
  }
  return shape;
}

}  // namespace

TorchSelection RunTorch(const torch::Tensor& x,
                        const SelectionOptions& options) {
  TorchSelection t;
  switch (options.kind) {
    case SelectionKind::kSort:
      std::tie(t.values, t.indices) =
          torch::sort(x, /*stable=*/true, options.dim, options.descending);
      break;
    case SelectionKind::kKthValue:
      std::tie(t.values, t.indices) =
          torch::kthvalue(x, options.k, options.dim, options.keepdim);
      break;
    case SelectionKind::kMax:
      std::tie(t.values, t.indices) =
          torch::max(x, options.dim, options.keepdim);
      break;
    case SelectionKind::kMin:
      std::tie(t.values, t.indices) =
          torch::min(x, options.dim, options.keepdim);
      break;
    case SelectionKind::kMedian:
      std::tie(t.values, t.indices) =
          torch::median(x, options.dim, options.keepdim);
      break;
  }
  return t;
}

namespace {

// The case's input as a tensorops tensor and as libtorch's (float32 where
// TorchViaFloat32).
struct CaseInputs {
  Tensor ours;
  torch::Tensor theirs;
};

absl::StatusOr<CaseInputs> InputsOf(const SelectionCase& c) {
  absl::StatusOr<Tensor> input = Tensor::CopyOf(c.dtype, c.shape, c.input);
  if (!input.ok()) return input.status();
  torch::Tensor x = ToTorch(*input);
  if (TorchViaFloat32(c.options.kind, c.dtype)) x = x.to(torch::kFloat);
  return CaseInputs{*std::move(input), x};
}

// Our results have the reference's shape and indices, and every value is
// the input element at its index, bit for bit.
::testing::AssertionResult MatchesReference(const SelectionCase& c,
                                            const CaseGeometry& geometry,
                                            const ReferenceSelection& ref,
                                            const SelectionResult& ours) {
  if (::testing::AssertionResult shapes =
          HasValuesAndIndices(ours, c.dtype, ref.output_shape);
      !shapes) {
    return shapes;
  }
  const std::vector<int64_t> indices =
      tensorops::testing::Values<int64_t>(ours.indices);
  if (indices != ref.indices) {
    const int64_t first =
        std::mismatch(indices.begin(), indices.end(), ref.indices.begin())
            .first -
        indices.begin();
    return ::testing::AssertionFailure()
           << "indices differ from the reference at output element " << first
           << ", in slice (outer " << geometry.OuterOf(first) << ", inner "
           << geometry.InnerOf(first) << ")"
           << "\n  ours:      " << Join(geometry.SliceIndices(indices, first))
           << "\n  reference: "
           << Join(geometry.SliceIndices(ref.indices, first))
           << "\n  slice values: " << Join(geometry.SliceBits(c, first));
  }
  const size_t size = DTypeSize(c.dtype);
  for (int64_t e = 0; e < static_cast<int64_t>(indices.size()); ++e) {
    const std::byte* value = ours.values.data() + e * size;
    const std::byte* expected =
        c.input.data() + geometry.InputPosition(e, indices[e]) * size;
    if (std::memcmp(value, expected, size) != 0) {
      return ::testing::AssertionFailure()
             << "value at output element " << e << " is "
             << HexBits(value, size) << " but the input element at its index "
             << indices[e] << " is " << HexBits(expected, size);
    }
  }
  return ::testing::AssertionSuccess();
}

void Record(const SelectionCase& c, const CaseGeometry& geometry,
            const std::vector<OrderKey>& keys, const ReferenceSelection& ref,
            Coverage& coverage) {
  const SliceGeometry& g = geometry.g;
  const int64_t numel = static_cast<int64_t>(keys.size());
  ++coverage.cases;
  coverage.rank0 += c.shape.empty();
  coverage.empty += numel == 0;
  coverage.negative_dim += c.options.dim < 0;
  coverage.keepdim += Reduces(c.options.kind) && c.options.keepdim;
  coverage.descending +=
      c.options.kind == SelectionKind::kSort && c.options.descending;
  coverage.inner_dim += g.inner > 1 && g.size > 1;
  coverage.all_equal +=
      c.mix == ValueMix::kPool && c.pool_size == 1 && g.size > 1 && numel > 0;
  coverage.tied_selection +=
      std::find(ref.tied.begin(), ref.tied.end(), true) != ref.tied.end();
  if (c.options.kind == SelectionKind::kKthValue && g.size > 1) {
    coverage.k_one += c.options.k == 1;
    coverage.k_full += c.options.k == g.size;
  }
  coverage.nan += std::any_of(keys.begin(), keys.end(),
                              [](const OrderKey& key) { return key.is_nan; });
  coverage.infinity +=
      std::any_of(keys.begin(), keys.end(),
                  [](const OrderKey& key) { return std::isinf(key.real); });
  coverage.negative_zero +=
      std::any_of(keys.begin(), keys.end(), [](const OrderKey& key) {
        return key.real == 0 && std::signbit(key.real);
      });
  coverage.denormal +=
      std::any_of(keys.begin(), keys.end(), [&](const OrderKey& key) {
        // Below the dtype's smallest normal (float32's for the 16-bit
        // types: bfloat16 shares its range; float16's is 2^-14).
        const double smallest_normal = c.dtype == DType::kFloat64   ? 0x1p-1022
                                       : c.dtype == DType::kFloat16 ? 0x1p-14
                                                                    : 0x1p-126;
        return key.real != 0 && std::fabs(key.real) < smallest_normal;
      });
}

}  // namespace

::testing::AssertionResult CheckForward(Backend& backend,
                                        const SelectionCase& c,
                                        Coverage& coverage) {
  const absl::StatusOr<CaseInputs> inputs = InputsOf(c);
  if (!inputs.ok()) {
    return ::testing::AssertionFailure() << "input: " << inputs.status();
  }
  const absl::StatusOr<SelectionResult> ours =
      backend.Select(inputs->ours, c.options);
  if (!ours.ok()) {
    return ::testing::AssertionFailure() << "Select failed: " << ours.status();
  }
  const CaseGeometry geometry(c);
  const std::vector<OrderKey> keys = OrderKeysOf(c.dtype, c.input);
  const ReferenceSelection ref = ReferenceSelectionOf(keys, c.shape, c.options);
  if (auto result = MatchesReference(c, geometry, ref, *ours); !result) {
    return result;
  }

  TorchSelection theirs;
  try {
    theirs = RunTorch(inputs->theirs, c.options);
  } catch (const c10::Error& e) {
    return ::testing::AssertionFailure()
           << "torch rejected a case we accept: " << e.what_without_backtrace();
  }
  if (SizesOf(theirs.values) != ref.output_shape ||
      SizesOf(theirs.indices) != ref.output_shape) {
    return ::testing::AssertionFailure()
           << "torch's output shape is "
           << ShapeToString(SizesOf(theirs.values)) << ", ours "
           << ShapeToString(ref.output_shape);
  }
  const std::vector<int64_t> our_indices =
      tensorops::testing::Values<int64_t>(ours->indices);
  const std::vector<int64_t> torch_indices = IndicesOf(theirs.indices);
  const torch::Tensor torch_values = theirs.values.contiguous();
  const std::vector<OrderKey> our_keys =
      OrderKeysOf(c.dtype, ours->values.bytes());
  const std::vector<OrderKey> torch_keys = OrderKeysOf(
      DTypeOfTorch(torch_values.scalar_type()), BytesOf(torch_values));
  const bool kthvalue = c.options.kind == SelectionKind::kKthValue;
  bool torch_picked_other_tie = false;
  for (int64_t e = 0; e < static_cast<int64_t>(our_indices.size()); ++e) {
    const int64_t t = torch_indices[e];
    if (t < 0 || t >= geometry.g.size) {
      return ::testing::AssertionFailure()
             << "torch returned index " << t << " at output element " << e;
    }
    if (CompareOrder(our_keys[e], torch_keys[e]) != 0) {
      return ::testing::AssertionFailure()
             << "value at output element " << e << ": ours "
             << KeyToString(our_keys[e]) << " (index " << our_indices[e]
             << "), torch " << KeyToString(torch_keys[e]) << " (index " << t
             << ")\n  slice values: " << Join(geometry.SliceBits(c, e));
    }
    if (kthvalue) {
      // Torch's index holds the same value (its value is its element's).
      if (CompareOrder(keys[geometry.InputPosition(e, t)], our_keys[e]) != 0) {
        return ::testing::AssertionFailure()
               << "torch's index " << t << " at output element " << e
               << " holds " << KeyToString(keys[geometry.InputPosition(e, t)])
               << ", not the k-th value " << KeyToString(our_keys[e]);
      }
      torch_picked_other_tie |= t != our_indices[e];
    } else if (t != our_indices[e]) {
      return ::testing::AssertionFailure()
             << "index at output element " << e << ": ours " << our_indices[e]
             << ", torch " << t << (ref.tied[e] ? " (a tie)" : " (no tie)")
             << "\n  our slice:   "
             << Join(geometry.SliceIndices(our_indices, e))
             << "\n  torch slice: "
             << Join(geometry.SliceIndices(torch_indices, e))
             << "\n  slice values: " << Join(geometry.SliceBits(c, e));
    }
  }
  // Bit for bit where torch's values are input elements of our dtype (and
  // at the same index, for kthvalue): not after a float32 detour, and not a
  // 0-d max/min, which libtorch fills through a Scalar (quieting a
  // signalling NaN) where tensorops returns the element itself.
  const bool zero_d_extreme =
      c.shape.empty() && (c.options.kind == SelectionKind::kMax ||
                          c.options.kind == SelectionKind::kMin);
  if (!TorchViaFloat32(c.options.kind, c.dtype) && !zero_d_extreme &&
      !torch_picked_other_tie) {
    if (auto result = SameBits("values", ours->values, torch_values); !result) {
      return result;
    }
  }
  Record(c, geometry, keys, ref, coverage);
  coverage.torch_picked_other_tie += torch_picked_other_tie;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult CheckBackward(Backend& backend,
                                         const SelectionCase& c) {
  const absl::StatusOr<CaseInputs> inputs = InputsOf(c);
  if (!inputs.ok()) {
    return ::testing::AssertionFailure() << "input: " << inputs.status();
  }
  const absl::StatusOr<SelectionResult> ours =
      backend.Select(inputs->ours, c.options);
  if (!ours.ok()) {
    return ::testing::AssertionFailure() << "Select failed: " << ours.status();
  }
  const CaseGeometry geometry(c);
  const Shape keep_dim_shape = KeepDimShape(c, geometry);
  const absl::StatusOr<Tensor> grad =
      Tensor::CopyOf(c.dtype, keep_dim_shape, c.grad);
  if (!grad.ok()) {
    return ::testing::AssertionFailure() << "grad: " << grad.status();
  }
  const bool via_float32 = TorchViaFloat32(c.options.kind, c.dtype);
  torch::Tensor x = inputs->theirs.clone().requires_grad_(true);
  TorchSelection theirs;
  try {
    theirs = RunTorch(x, c.options);
  } catch (const c10::Error& e) {
    return ::testing::AssertionFailure()
           << "torch rejected a case we accept: " << e.what_without_backtrace();
  }
  // torch's values have the options' shape: keepdim's or the reduced one.
  torch::Tensor torch_grad =
      ToTorch(*grad).reshape(SizesOf(theirs.values)).contiguous();
  if (via_float32) torch_grad = torch_grad.to(torch::kFloat);
  theirs.values.backward(torch_grad);
  torch::Tensor autograd = x.grad().defined() ? x.grad() : torch::zeros_like(x);
  if (via_float32) autograd = autograd.to(torch::kHalf);

  // (a) Torch's indices.
  const absl::StatusOr<Tensor> torch_indices =
      FromTorch(theirs.indices.reshape(keep_dim_shape));
  if (!torch_indices.ok()) {
    return ::testing::AssertionFailure()
           << "torch indices: " << torch_indices.status();
  }
  const absl::StatusOr<Tensor> backward_a =
      backend.TopKBackward(*grad, *torch_indices, c.shape, c.options.dim);
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
  // (b) Our indices, put back at dim with Reshaped.
  const absl::StatusOr<Tensor> our_indices =
      ours->indices.Reshaped(keep_dim_shape);
  if (!our_indices.ok()) {
    return ::testing::AssertionFailure()
           << "Reshaped(indices): " << our_indices.status();
  }
  const absl::StatusOr<Tensor> backward_b =
      backend.TopKBackward(*grad, *our_indices, c.shape, c.options.dim);
  if (!backward_b.ok()) {
    return ::testing::AssertionFailure()
           << "TopKBackward with our indices failed: " << backward_b.status();
  }
  const torch::Tensor scattered =
      torch::zeros(c.shape, torch::TensorOptions().dtype(TorchTypeOf(c.dtype)))
          .scatter(c.shape.empty() ? 0 : geometry.wrapped_dim,
                   ToTorch(*our_indices), ToTorch(*grad));
  if (auto result = SameBits("TopKBackward(our indices) vs torch scatter",
                             *backward_b, scattered);
      !result) {
    return result;
  }
  if (c.options.kind != SelectionKind::kKthValue) {
    // Where the indices must agree, so do the gradients.
    if (auto result = SameBits("TopKBackward(our indices) vs autograd",
                               *backward_b, autograd);
        !result) {
      return result;
    }
  }
  return ::testing::AssertionSuccess();
}

void SelectionOracleTest::SetUpTestSuite() {
  // Torch's own thread pool would only compete with the backend's two.
  torch::set_num_threads(1);
  // Every c10::Error symbolizes a C++ backtrace (milliseconds each); the
  // rejection tests throw hundreds and never print them.
  c10::SetStackTraceFetcher([] { return std::string(); });
}

int64_t SelectionOracleTest::RunRandomForwardCases(SelectionKind kind) {
  int64_t cases_passed = 0;
  for (DType dtype : kAllDTypes) {
    if (dtype == DType::kBool && !TakesBool(kind)) continue;
    SCOPED_TRACE(DTypeName(dtype));
    Coverage coverage;
    int failures = 0;
    for (int64_t seed_index = 0;
         seed_index < kRandomCasesPerDType && failures < kMaxReportedFailures;
         ++seed_index) {
      const SelectionCase c =
          tensorops::testing::RandomSelectionCase(kind, dtype, seed_index);
      if (::testing::AssertionResult result =
              CheckForward(backend_, c, coverage);
          !result) {
        ++failures;
        ADD_FAILURE() << result.message() << "\n  " << Describe(c);
      }
    }
    cases_passed += coverage.cases;
    if (failures > 0) continue;
    EXPECT_GT(coverage.rank0, 0);
    EXPECT_GT(coverage.empty, 0);
    EXPECT_GT(coverage.negative_dim, 0);
    EXPECT_GT(coverage.inner_dim, 0);
    EXPECT_GT(coverage.all_equal, 0);
    EXPECT_GT(coverage.tied_selection, 0);
    if (Reduces(kind)) {
      EXPECT_GT(coverage.keepdim, 0);
    }
    if (kind == SelectionKind::kSort) {
      EXPECT_GT(coverage.descending, 0);
    }
    if (kind == SelectionKind::kKthValue) {
      EXPECT_GT(coverage.k_one, 0);
      EXPECT_GT(coverage.k_full, 0);
    }
    if (IsFloatingPoint(dtype)) {
      EXPECT_GT(coverage.nan, 0);
      EXPECT_GT(coverage.infinity, 0);
      EXPECT_GT(coverage.negative_zero, 0);
      EXPECT_GT(coverage.denormal, 0);
    }
    if (kind == SelectionKind::kKthValue) {
      // Only informative: how often torch's tie-break differed from ours.
      RecordProperty(absl::StrCat("torch_other_tie_", DTypeName(dtype)),
                     static_cast<int>(coverage.torch_picked_other_tie));
    }
  }
  return cases_passed;
}

int64_t DTypesTaking(SelectionKind kind) {
  return std::size(kAllDTypes) - (TakesBool(kind) ? 0 : 1);
}

SelectionOptions Options(SelectionKind kind, int64_t dim, bool keepdim,
                         bool descending, int64_t k) {
  SelectionOptions options;
  options.kind = kind;
  options.dim = dim;
  options.keepdim = keepdim;
  options.descending = descending;
  options.k = k;
  return options;
}

Tensor RandomInput(tensorops::testing::Rng& rng, DType dtype,
                   const Shape& shape, ValueMix mix) {
  int64_t numel = 1;
  for (int64_t extent : shape) numel *= extent;
  const std::vector<std::byte> bytes =
      tensorops::testing::RandomValues(rng, dtype, numel, mix, 1);
  absl::StatusOr<Tensor> tensor = Tensor::CopyOf(dtype, shape, bytes);
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return tensor.ok() ? *std::move(tensor) : Tensor();
}

}  // namespace tensorops::testing
