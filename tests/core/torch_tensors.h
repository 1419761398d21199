// Conversions between tensorops and libtorch tensors, and the bitwise
// comparison of the two, for the libtorch oracle tests (topk and the
// selection family).
#ifndef TENSOROPS_TESTS_CORE_TORCH_TENSORS_H_
#define TENSOROPS_TESTS_CORE_TORCH_TENSORS_H_

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/backend.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "gtest/gtest.h"
#include "tests/core/torch_oracle_support.h"

namespace tensorops::testing {

torch::ScalarType TorchTypeOf(DType dtype);
// ADD_FAILURE for a torch type tensorops lacks.
DType DTypeOfTorch(torch::ScalarType type);
std::vector<int64_t> SizesOf(const torch::Tensor& t);
// The bytes of a contiguous torch tensor.
absl::Span<const std::byte> BytesOf(const torch::Tensor& contiguous);
// A libtorch copy of `tensor`.
torch::Tensor ToTorch(const Tensor& tensor);
// A tensorops copy of `t`.
absl::StatusOr<Tensor> FromTorch(const torch::Tensor& t);
// The elements of an int64 torch tensor.
std::vector<int64_t> IndicesOf(const torch::Tensor& t);

// `size` bytes from `element` in hex, as "0x7fc00001".
std::string HexBits(const std::byte* element, size_t size);
// An order key as a number, or "nan".
std::string KeyToString(const OrderKey& key);

// "[a, b, ...]" of the first `limit` items.
template <typename T>
std::string Join(const std::vector<T>& items, size_t limit = 64) {
  std::string text = "[";
  for (size_t i = 0; i < items.size() && i < limit; ++i) {
    absl::StrAppend(&text, i ? ", " : "", items[i]);
  }
  if (items.size() > limit) absl::StrAppend(&text, ", ...");
  return text + "]";
}

// A topk or selection result has values of `dtype` and int64 indices, both
// of `shape`.
::testing::AssertionResult HasValuesAndIndices(const TopKResult& ours,
                                               DType dtype, ShapeView shape);

// `ours` and `theirs` have the same dtype, shape and bytes.
::testing::AssertionResult SameBits(absl::string_view what, const Tensor& ours,
                                    const torch::Tensor& theirs);

}  // namespace tensorops::testing

#endif  // TENSOROPS_TESTS_CORE_TORCH_TENSORS_H_
