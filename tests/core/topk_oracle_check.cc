#include "tests/core/topk_oracle_check.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <tuple>

#include "absl/status/statusor.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "tests/core/torch_tensors.h"
#include "tests/support/tensor_builders.h"

namespace tensorops::testing {
namespace {

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

}  // namespace

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

}  // namespace tensorops::testing
