// How the command-line tool reads tensors from its arguments and writes
// results: PyTorch's print format, JSON, or .npy files.
#ifndef TENSOROPS_CLIENT_CLI_TENSOR_IO_H_
#define TENSOROPS_CLIENT_CLI_TENSOR_IO_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/tensor_ops_client.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace tensorops::client {

// A dtype by PyTorch's name ("float32", "torch.float32") or alias ("float",
// "double", "half", "long", "int", "short").
absl::StatusOr<DType> ParseDTypeName(absl::string_view name);

// A tensor argument: a path ending in ".npy" is read as a NumPy file
// (`dtype`, if given, must match it); "-" reads standard input, a NumPy
// file's bytes or a literal's text; anything else is a literal for
// ParseTensorLiteral.
absl::StatusOr<Tensor> ReadTensorArgument(absl::string_view arg,
                                          std::optional<DType> dtype);

struct OutputFormat {
  enum class Kind { kTorch, kJson, kNpy };
  Kind kind = Kind::kTorch;
  // kNpy: where to write, one path per result tensor.
  std::vector<std::string> npy_paths;
};

// "torch" (the default), "json", or "npy:PATH[,PATH]".
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text);

// One result tensor: printed like PyTorch, as TensorToJson, or saved.
absl::Status WriteTensor(const OutputFormat& format, const Tensor& tensor,
                         std::ostream& out);

// A result of `op` ("topk", "sort", "max", ...): printed like
// torch.return_types.OP; as JSON {"values": ..., "indices": ...,
// "session_id": ...}; or saved to two .npy files (values, then indices). A
// session id is printed as a last line "session_id=ID" except in JSON.
absl::Status WriteSelection(const OutputFormat& format, absl::string_view op,
                            const TopKOutput& result, std::ostream& out);

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_CLI_TENSOR_IO_H_
