// Tensors written as text: nested lists in JSON (or Python) syntax in, JSON
// out.
#ifndef TENSOROPS_CLIENT_CLI_TENSOR_LITERAL_H_
#define TENSOROPS_CLIENT_CLI_TENSOR_LITERAL_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace tensorops::client {

// Parses nested lists of numbers or booleans, e.g. "[[1, 2], [3, 4]]", as
// torch.tensor(data, dtype=dtype) would build them.
//
// - A bare number is a 0-d tensor; "[]" is shape [0]; "[[], []]" is [2, 0].
//   Every list at one depth must have the same length.
// - Numbers: JSON numbers plus Python's forms "3.", ".5", "+1"; NaN as
//   nan/NaN, infinities as inf/Infinity (either sign); booleans true/false
//   (or True/False). A trailing comma inside a list is allowed.
// - Without `dtype`, like torch.tensor: float32 if any element is written
//   with a decimal point or exponent (or is nan/inf), else int64 if any is an
//   integer, else bool; float32 for a tensor with no elements.
// - With `dtype`: floating dtypes round the value (double, then float, then
//   float16/bfloat16, as torch does); integer dtypes require integers within
//   their range (no silent wrapping or truncation, unlike torch); bool takes
//   booleans or numbers (non-zero is true).
// INVALID_ARGUMENT naming the position of the first problem.
absl::StatusOr<Tensor> ParseTensorLiteral(
    absl::string_view text, std::optional<DType> dtype = std::nullopt);

// A shape written as "[2, 3]", "(2, 3)", "2,3" or "4"; "[]" or "()" is the
// 0-d shape.
absl::StatusOr<Shape> ParseShapeLiteral(absl::string_view text);

// The elements as nested JSON lists, e.g. "[[1.5, 2.0], [NaN, -Infinity]]".
// Floats are written in the shortest form that reads back to the same value
// (always with a "." or exponent, so they read back as floats); non-finite
// values as NaN, Infinity and -Infinity (as Python's json module does).
std::string TensorToJsonList(const Tensor& tensor);

// {"dtype": "float32", "shape": [2], "data": [4.0, 3.0]}
std::string TensorToJson(const Tensor& tensor);

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_CLI_TENSOR_LITERAL_H_
