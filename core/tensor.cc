#include "core/tensor.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/buffer_pool.h"
#include "core/status_macros.h"

namespace tensorops {
namespace {

absl::Status CheckByteCount(DType dtype, ShapeView shape, size_t actual,
                            int64_t expected) {
  if (actual == static_cast<size_t>(expected)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "tensor data has ", actual, " bytes but a ", DTypeName(dtype),
      " tensor of shape ", ShapeToString(shape), " needs exactly ", expected,
      " bytes (", DTypeSize(dtype), " per element, row-major, little-endian)"));
}

}  // namespace

Tensor::Tensor()
    : dtype_(DType::kFloat32),
      shape_{0},
      num_elements_(0),
      data_(nullptr),
      mutable_data_(nullptr) {}

Tensor::Tensor(DType dtype, Shape shape, int64_t num_elements,
               std::shared_ptr<const void> owner, const std::byte* data,
               std::byte* mutable_data)
    : dtype_(dtype),
      shape_(std::move(shape)),
      num_elements_(num_elements),
      owner_(std::move(owner)),
      data_(data),
      mutable_data_(mutable_data) {}

absl::StatusOr<Tensor> Tensor::Allocate(DType dtype, Shape shape) {
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t bytes, ByteSize(dtype, shape));
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t count, NumElements(shape));
  TENSOROPS_ASSIGN_OR_RETURN(std::shared_ptr<std::byte> block,
                             BufferPool::Default().Allocate(bytes));
  std::byte* data = block.get();
  return Tensor(dtype, std::move(shape), count, std::move(block), data, data);
}

absl::StatusOr<Tensor> Tensor::CopyOf(DType dtype, Shape shape,
                                      absl::Span<const std::byte> bytes) {
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t expected, ByteSize(dtype, shape));
  TENSOROPS_RETURN_IF_ERROR(
      CheckByteCount(dtype, shape, bytes.size(), expected));
  TENSOROPS_ASSIGN_OR_RETURN(Tensor tensor, Allocate(dtype, std::move(shape)));
  if (!bytes.empty()) {
    std::memcpy(tensor.mutable_data(), bytes.data(), bytes.size());
  }
  return tensor;
}

absl::StatusOr<Tensor> Tensor::CheckedView(DType dtype, Shape shape,
                                           const std::byte* data, size_t size,
                                           std::byte* mutable_data,
                                           std::shared_ptr<const void> owner) {
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t expected, ByteSize(dtype, shape));
  TENSOROPS_RETURN_IF_ERROR(CheckByteCount(dtype, shape, size, expected));
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t count, NumElements(shape));
  return Tensor(dtype, std::move(shape), count, std::move(owner), data,
                mutable_data);
}

absl::StatusOr<Tensor> Tensor::View(DType dtype, Shape shape,
                                    absl::Span<const std::byte> bytes,
                                    std::shared_ptr<const void> owner) {
  return CheckedView(dtype, std::move(shape), bytes.data(), bytes.size(),
                     nullptr, std::move(owner));
}

absl::StatusOr<Tensor> Tensor::WritableView(DType dtype, Shape shape,
                                            absl::Span<std::byte> bytes,
                                            std::shared_ptr<const void> owner) {
  return CheckedView(dtype, std::move(shape), bytes.data(), bytes.size(),
                     bytes.data(), std::move(owner));
}

absl::StatusOr<Tensor> Tensor::Reshaped(Shape shape) const {
  return CheckedView(dtype_, std::move(shape), data_, byte_size(),
                     mutable_data_, owner_);
}

}  // namespace tensorops
