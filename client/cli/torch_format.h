// Text of tensors exactly as PyTorch 1.13 prints them (repr/str of a CPU
// tensor with the default print options: precision 4, threshold 1000,
// edgeitems 3, linewidth 80), following torch/_tensor_str.py.
#ifndef TENSOROPS_CLIENT_CLI_TORCH_FORMAT_H_
#define TENSOROPS_CLIENT_CLI_TORCH_FORMAT_H_

#include <string>

#include "core/tensor.h"

namespace tensorops::client {

// e.g. "tensor([0.2000, 0.0000, 0.1000, 0.0000])",
// "tensor([[0, 0, 0],\n        [0, 0, 0]])", "tensor(7.)",
// "tensor([1., 2.], dtype=torch.float64)", "tensor([], size=(0, 2))".
std::string FormatLikeTorch(const Tensor& tensor);

// What print(torch.OP(...)) shows for an op returning values and indices
// (`op` "topk", "sort", "max", ...):
// "torch.return_types.topk(\nvalues=tensor([4., 3.]),\nindices=tensor([2, 0]))"
std::string FormatSelectionLikeTorch(absl::string_view op, const Tensor& values,
                                     const Tensor& indices);

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_CLI_TORCH_FORMAT_H_
