// Wire tensors for the request layer's tests.
#ifndef TENSOROPS_TESTS_REQUEST_REQUEST_TEST_UTIL_H_
#define TENSOROPS_TESTS_REQUEST_REQUEST_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "request/limits.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::request::testing {

// A float32 wire tensor of `shape` holding 0, 1, 2, ...
inline tensorops::v1::Tensor Float32Tensor(const std::vector<int64_t>& shape) {
  tensorops::v1::Tensor tensor;
  tensor.set_dtype(tensorops::v1::DTYPE_FLOAT32);
  int64_t count = 1;
  for (int64_t dim : shape) {
    tensor.add_shape(dim);
    count *= dim;
  }
  std::string data(count * sizeof(float), '\0');
  for (int64_t i = 0; i < count; ++i) {
    const float value = static_cast<float>(i);
    std::memcpy(data.data() + i * sizeof(float), &value, sizeof(float));
  }
  tensor.set_data(std::move(data));
  return tensor;
}

// An int64 wire tensor of `shape` holding `values`.
inline tensorops::v1::Tensor Int64Tensor(const std::vector<int64_t>& shape,
                                         const std::vector<int64_t>& values) {
  tensorops::v1::Tensor tensor;
  tensor.set_dtype(tensorops::v1::DTYPE_INT64);
  for (int64_t dim : shape) tensor.add_shape(dim);
  tensor.set_data(std::string(reinterpret_cast<const char*>(values.data()),
                              values.size() * sizeof(int64_t)));
  return tensor;
}

// One case of a table of refused requests: `request` under `limits` fails
// with `code` and a message containing `message`.
template <typename Request>
struct BadRequest {
  std::string name;
  Request request;
  RequestLimits limits;
  absl::StatusCode code;
  std::string message;
};

}  // namespace tensorops::request::testing

#endif  // TENSOROPS_TESTS_REQUEST_REQUEST_TEST_UTIL_H_
