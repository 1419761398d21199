#include "tests/core/torch_tensors.h"

#include <cstring>

#include "absl/strings/str_format.h"

namespace tensorops::testing {

torch::ScalarType TorchTypeOf(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return torch::kFloat;
    case DType::kFloat64:
      return torch::kDouble;
    case DType::kFloat16:
      return torch::kHalf;
    case DType::kBFloat16:
      return torch::kBFloat16;
    case DType::kInt8:
      return torch::kChar;
    case DType::kInt16:
      return torch::kShort;
    case DType::kInt32:
      return torch::kInt;
    case DType::kInt64:
      return torch::kLong;
    case DType::kUInt8:
      return torch::kByte;
    case DType::kBool:
      return torch::kBool;
  }
  return torch::kFloat;
}

DType DTypeOfTorch(torch::ScalarType type) {
  for (DType dtype : kAllDTypes) {
    if (TorchTypeOf(dtype) == type) return dtype;
  }
  ADD_FAILURE() << "no tensorops dtype for torch type " << type;
  return DType::kFloat32;
}

std::vector<int64_t> SizesOf(const torch::Tensor& t) {
  return std::vector<int64_t>(t.sizes().begin(), t.sizes().end());
}

absl::Span<const std::byte> BytesOf(const torch::Tensor& contiguous) {
  return {static_cast<const std::byte*>(contiguous.data_ptr()),
          static_cast<size_t>(contiguous.numel() * contiguous.element_size())};
}

torch::Tensor ToTorch(const Tensor& tensor) {
  torch::Tensor t =
      torch::empty(tensor.shape(),
                   torch::TensorOptions().dtype(TorchTypeOf(tensor.dtype())));
  if (tensor.byte_size() > 0) {
    std::memcpy(t.data_ptr(), tensor.data(), tensor.byte_size());
  }
  return t;
}

absl::StatusOr<Tensor> FromTorch(const torch::Tensor& t) {
  const torch::Tensor contiguous = t.contiguous();
  return Tensor::CopyOf(DTypeOfTorch(contiguous.scalar_type()),
                        SizesOf(contiguous), BytesOf(contiguous));
}

std::vector<int64_t> IndicesOf(const torch::Tensor& t) {
  const torch::Tensor contiguous = t.contiguous();
  return std::vector<int64_t>(contiguous.data_ptr<int64_t>(),
                              contiguous.data_ptr<int64_t>() + t.numel());
}

std::string HexBits(const std::byte* element, size_t size) {
  uint64_t bits = 0;
  std::memcpy(&bits, element, size);
  return absl::StrFormat("0x%0*x", static_cast<int>(2 * size), bits);
}

std::string KeyToString(const OrderKey& key) {
  if (key.is_nan) return "nan";
  return key.integer != 0 ? absl::StrCat(key.integer) : absl::StrCat(key.real);
}

::testing::AssertionResult SameBits(absl::string_view what, const Tensor& ours,
                                    const torch::Tensor& theirs) {
  const torch::Tensor contiguous = theirs.contiguous();
  if (TorchTypeOf(ours.dtype()) != contiguous.scalar_type() ||
      ours.shape() != SizesOf(contiguous)) {
    return ::testing::AssertionFailure()
           << what << ": ours is " << DTypeName(ours.dtype()) << " "
           << ShapeToString(ours.shape()) << ", torch's is "
           << contiguous.scalar_type() << " "
           << ShapeToString(SizesOf(contiguous));
  }
  const size_t size = DTypeSize(ours.dtype());
  const absl::Span<const std::byte> expected = BytesOf(contiguous);
  for (int64_t i = 0; i < ours.num_elements(); ++i) {
    if (std::memcmp(ours.data() + i * size, expected.data() + i * size, size) !=
        0) {
      return ::testing::AssertionFailure()
             << what << ": first difference at flat element " << i << ": ours "
             << HexBits(ours.data() + i * size, size) << ", torch "
             << HexBits(expected.data() + i * size, size);
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult HasValuesAndIndices(const TopKResult& ours,
                                               DType dtype, ShapeView shape) {
  if (ours.values.dtype() == dtype && ours.indices.dtype() == DType::kInt64 &&
      ours.values.shape() == shape && ours.indices.shape() == shape) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "output is values " << DTypeName(ours.values.dtype()) << " "
         << ShapeToString(ours.values.shape()) << ", indices "
         << DTypeName(ours.indices.dtype()) << " "
         << ShapeToString(ours.indices.shape()) << "; expected "
         << ShapeToString(shape);
}

}  // namespace tensorops::testing
