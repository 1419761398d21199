// Building and reading tensors of any dtype in tests.
#ifndef TENSOROPS_TESTS_SUPPORT_TENSOR_BUILDERS_H_
#define TENSOROPS_TESTS_SUPPORT_TENSOR_BUILDERS_H_

#include <cstring>
#include <vector>

#include "core/tensor.h"
#include "gtest/gtest.h"

namespace tensorops::testing {

// A tensor of `dtype` holding `values` (whose element type must have the
// dtype's size), copied.
template <typename T>
Tensor MakeTensor(DType dtype, Shape shape, const std::vector<T>& values) {
  EXPECT_EQ(sizeof(T), DTypeSize(dtype));
  absl::StatusOr<Tensor> tensor =
      Tensor::CopyOf(dtype, std::move(shape),
                     {reinterpret_cast<const std::byte*>(values.data()),
                      values.size() * sizeof(T)});
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return tensor.ok() ? *std::move(tensor) : Tensor();
}

// A tensor's elements as T (whose size must equal the dtype's).
template <typename T>
std::vector<T> Values(const Tensor& tensor) {
  EXPECT_EQ(sizeof(T), DTypeSize(tensor.dtype()));
  std::vector<T> values(tensor.num_elements());
  if (!values.empty()) {
    std::memcpy(values.data(), tensor.data(), tensor.byte_size());
  }
  return values;
}

}  // namespace tensorops::testing

#endif  // TENSOROPS_TESTS_SUPPORT_TENSOR_BUILDERS_H_
