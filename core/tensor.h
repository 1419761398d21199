// A dense, contiguous, row-major tensor that owns or borrows its bytes.
#ifndef TENSOROPS_CORE_TENSOR_H_
#define TENSOROPS_CORE_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace tensorops {

// Elements are stored little-endian in row-major order with no padding.
// Copies share the bytes (like a shared_ptr); tensors are immutable once
// built except through mutable_data() of an owning tensor.
//
// A borrowed tensor (View) reads bytes it does not own, e.g. a request
// message's payload, and keeps an optional owner alive. Its bytes need not be
// aligned: read elements with Load().
class Tensor {
 public:
  // A 0-element float32 tensor of shape [0].
  Tensor();

  // An owning tensor with uninitialized contents, 64-byte aligned. Errors:
  // INVALID_ARGUMENT for a bad shape, RESOURCE_EXHAUSTED if out of memory.
  static absl::StatusOr<Tensor> Allocate(DType dtype, Shape shape);

  // An owning tensor holding a copy of `bytes`, which must be exactly
  // ByteSize(dtype, shape) long (INVALID_ARGUMENT otherwise).
  static absl::StatusOr<Tensor> CopyOf(DType dtype, Shape shape,
                                       absl::Span<const std::byte> bytes);

  // A tensor reading `bytes` in place, which must be exactly
  // ByteSize(dtype, shape) long (INVALID_ARGUMENT otherwise). `owner` is kept
  // alive as long as any copy of the tensor; pass nullptr when the caller
  // guarantees the bytes outlive it.
  static absl::StatusOr<Tensor> View(DType dtype, Shape shape,
                                     absl::Span<const std::byte> bytes,
                                     std::shared_ptr<const void> owner);

  // A tensor writing into `bytes` in place (the caller's memory, e.g. a
  // shared memory region a result goes to), with the same rules as View;
  // mutable_data() points at them.
  static absl::StatusOr<Tensor> WritableView(DType dtype, Shape shape,
                                             absl::Span<std::byte> bytes,
                                             std::shared_ptr<const void> owner);

  // The same bytes (shared, not copied) seen with `shape`, which must have
  // as many elements (INVALID_ARGUMENT otherwise); e.g. a reduced
  // dimension put back with size 1.
  absl::StatusOr<Tensor> Reshaped(Shape shape) const;

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t num_elements() const { return num_elements_; }
  size_t byte_size() const { return num_elements_ * DTypeSize(dtype_); }
  bool is_view() const { return mutable_data_ == nullptr && num_elements_ > 0; }

  const std::byte* data() const { return data_; }
  absl::Span<const std::byte> bytes() const { return {data_, byte_size()}; }
  // Writable bytes of an owning tensor or a WritableView; nullptr for a
  // view.
  std::byte* mutable_data() { return mutable_data_; }

  // Element `i` reinterpreted as T (sizeof(T) must equal the dtype's size).
  // Safe for unaligned views.
  template <typename T>
  T Load(int64_t i) const {
    T value;
    std::memcpy(&value, data_ + i * sizeof(T), sizeof(T));
    return value;
  }

 private:
  // View and WritableView: checks that `size` is the tensor's byte size.
  static absl::StatusOr<Tensor> CheckedView(DType dtype, Shape shape,
                                            const std::byte* data, size_t size,
                                            std::byte* mutable_data,
                                            std::shared_ptr<const void> owner);

  Tensor(DType dtype, Shape shape, int64_t num_elements,
         std::shared_ptr<const void> owner, const std::byte* data,
         std::byte* mutable_data);

  DType dtype_;
  Shape shape_;
  int64_t num_elements_;
  std::shared_ptr<const void> owner_;
  const std::byte* data_;
  std::byte* mutable_data_;
};

}  // namespace tensorops

#endif  // TENSOROPS_CORE_TENSOR_H_
