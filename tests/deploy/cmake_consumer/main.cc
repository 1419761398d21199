// topk_example <address>: TopK(k=2) of a 2x4 float32 tensor built from a
// buffer, on the server at <address>. Prints one line per row,
//   row <i>: values <v0> <v1> indices <i0> <i1>
// and exits 1 with the status on an error.
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/tensor_ops_client.h"
#include "core/tensor.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " <host:port>\n";
    return 2;
  }
  std::unique_ptr<tensorops::client::TensorOpsClient> client =
      tensorops::client::TensorOpsClient::Connect(argv[1]);

  const float data[] = {3.0f, 1.0f, 4.0f, 1.5f,  //
                        9.0f, 2.0f, 6.0f, 5.0f};
  // CopyOf copies the buffer; Tensor::View would read it in place.
  absl::StatusOr<tensorops::Tensor> input = tensorops::Tensor::CopyOf(
      tensorops::DType::kFloat32, {2, 4},
      {reinterpret_cast<const std::byte*>(data), sizeof(data)});
  if (!input.ok()) {
    std::cerr << input.status() << "\n";
    return 1;
  }

  absl::StatusOr<tensorops::client::TopKOutput> top =
      client->TopK(*input, {.k = 2});
  if (!top.ok()) {
    std::cerr << "TopK: " << top.status() << "\n";
    return 1;
  }
  // values: float32 [2, 2]; indices: int64 [2, 2].
  const int64_t rows = top->values.shape()[0], k = top->values.shape()[1];
  for (int64_t row = 0; row < rows; ++row) {
    std::cout << "row " << row << ": values";
    for (int64_t j = 0; j < k; ++j) {
      std::cout << " " << top->values.Load<float>(row * k + j);
    }
    std::cout << " indices";
    for (int64_t j = 0; j < k; ++j) {
      std::cout << " " << top->indices.Load<int64_t>(row * k + j);
    }
    std::cout << "\n";
  }
  return 0;
}
