#include "client/cli/torch_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "client/cli/tensor_values.h"
#include "core/dtype.h"

namespace tensorops::client {
namespace {

// torch._tensor_str.PRINT_OPTS defaults.
constexpr int kPrecision = 4;
constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;
constexpr int kLineWidth = 80;

constexpr absl::string_view kPrefix = "tensor(";

// printf-style formatting of one double; NaN prints as "nan" whatever its
// sign bit, like Python's format() (C's printf would print "-nan").
std::string FormatDouble(const char* format, double value) {
  if (std::isnan(value)) return "nan";
  char buffer[512];
  std::snprintf(buffer, sizeof(buffer), format, value);
  return buffer;
}

std::string Scientific(double value) { return FormatDouble("%.4e", value); }

std::string PadLeft(std::string text, size_t width) {
  if (text.size() < width) text.insert(0, width - text.size(), ' ');
  return text;
}

// torch._tensor_str._Formatter: one width and one notation for every
// element, decided from the elements it is shown (the summarized ones when
// the tensor is summarized).
class ElementFormatter {
 public:
  ElementFormatter(const Tensor& tensor, absl::Span<const int64_t> elements)
      : tensor_(tensor), floating_(IsFloatingPoint(tensor.dtype())) {
    static_assert(kPrecision == 4, "the printf formats below hard-code it");
    if (!floating_) {
      for (int64_t i : elements) {
        max_width_ = std::max(max_width_, IntegerText(i).size());
      }
      return;
    }
    std::vector<double> nonzero_finite;
    for (int64_t i : elements) {
      const double value = LoadAsDouble(tensor, i);
      if (std::isfinite(value) && value != 0) nonzero_finite.push_back(value);
    }
    if (nonzero_finite.empty()) return;
    double min_abs = std::fabs(nonzero_finite[0]);
    double max_abs = min_abs;
    for (double value : nonzero_finite) {
      min_abs = std::min(min_abs, std::fabs(value));
      max_abs = std::max(max_abs, std::fabs(value));
      if (value != std::ceil(value)) int_mode_ = false;
    }
    if (int_mode_) {
      // Whole numbers print with a trailing "." (one more character).
      if (max_abs / min_abs > 1000.0 || max_abs > 1.0e8) {
        sci_mode_ = true;
        for (double value : nonzero_finite) {
          max_width_ = std::max(max_width_, Scientific(value).size());
        }
      } else {
        for (double value : nonzero_finite) {
          max_width_ =
              std::max(max_width_, FormatDouble("%.0f", value).size() + 1);
        }
      }
    } else if (max_abs / min_abs > 1000.0 || max_abs > 1.0e8 ||
               min_abs < 1.0e-4) {
      sci_mode_ = true;
      for (double value : nonzero_finite) {
        max_width_ = std::max(max_width_, Scientific(value).size());
      }
    } else {
      for (double value : nonzero_finite) {
        max_width_ = std::max(max_width_, FormatDouble("%.4f", value).size());
      }
    }
  }

  size_t width() const { return max_width_; }

  std::string Format(int64_t i) const {
    if (!floating_) return PadLeft(IntegerText(i), max_width_);
    const double value = LoadAsDouble(tensor_, i);
    std::string text;
    if (sci_mode_) {
      text = Scientific(value);
    } else if (int_mode_) {
      text = FormatDouble("%.0f", value);
      if (std::isfinite(value)) text += ".";
    } else {
      text = FormatDouble("%.4f", value);
    }
    return PadLeft(std::move(text), max_width_);
  }

 private:
  // Python's str() of the element: "True"/"False" for bool.
  std::string IntegerText(int64_t i) const {
    if (tensor_.dtype() == DType::kBool) {
      return LoadAsInt64(tensor_, i) != 0 ? "True" : "False";
    }
    return absl::StrCat(LoadAsInt64(tensor_, i));
  }

  const Tensor& tensor_;
  const bool floating_;
  bool int_mode_ = true;
  bool sci_mode_ = false;
  size_t max_width_ = 1;
};

// Walks the tensor as torch's recursive printer does (row-major, contiguous).
class TensorPrinter {
 public:
  explicit TensorPrinter(const Tensor& tensor)
      : tensor_(tensor),
        summarize_(tensor.num_elements() > kThreshold),
        strides_(tensor.rank()) {
    int64_t stride = 1;
    for (int64_t d = tensor.rank() - 1; d >= 0; --d) {
      strides_[d] = stride;
      stride *= tensor.shape()[d];
    }
  }

  // torch._tensor_str._tensor_str for a non-empty tensor.
  std::string Print(int indent) const {
    std::vector<int64_t> shown;
    CollectShown(0, 0, shown);
    const ElementFormatter formatter(tensor_, shown);
    return PrintDims(formatter, 0, 0, indent);
  }

 private:
  // Indices along a dimension of `size` that are printed; -1 marks the
  // "..." of a summarized dimension.
  std::vector<int64_t> ShownIndices(int64_t size) const {
    std::vector<int64_t> indices;
    if (summarize_ && size > 2 * kEdgeItems) {
      for (int64_t i = 0; i < kEdgeItems; ++i) indices.push_back(i);
      indices.push_back(-1);
      for (int64_t i = size - kEdgeItems; i < size; ++i) indices.push_back(i);
    } else {
      for (int64_t i = 0; i < size; ++i) indices.push_back(i);
    }
    return indices;
  }

  // The elements get_summarized_data keeps: what the formatter measures.
  void CollectShown(int64_t dim, int64_t offset,
                    std::vector<int64_t>& out) const {
    if (dim == tensor_.rank()) {
      out.push_back(offset);
      return;
    }
    for (int64_t i : ShownIndices(tensor_.shape()[dim])) {
      if (i >= 0) CollectShown(dim + 1, offset + i * strides_[dim], out);
    }
  }

  // torch._tensor_str._tensor_str_with_formatter.
  std::string PrintDims(const ElementFormatter& formatter, int64_t dim,
                        int64_t offset, int indent) const {
    const int64_t dims_left = tensor_.rank() - dim;
    if (dims_left == 0) return formatter.Format(offset);
    const int64_t size = tensor_.shape()[dim];
    std::vector<std::string> parts;
    if (dims_left == 1) {
      // _vector_str: as many elements per line as fit in the line width.
      const int64_t element_length =
          static_cast<int64_t>(formatter.width()) + 2;
      const int64_t elements_per_line =
          std::max<int64_t>(1, (kLineWidth - indent) / element_length);
      for (int64_t i : ShownIndices(size)) {
        parts.push_back(i < 0 ? " ..." : formatter.Format(offset + i));
      }
      std::vector<std::string> lines;
      for (size_t start = 0; start < parts.size();
           start += static_cast<size_t>(elements_per_line)) {
        const size_t end = std::min(
            parts.size(), start + static_cast<size_t>(elements_per_line));
        lines.push_back(
            absl::StrJoin(parts.begin() + start, parts.begin() + end, ", "));
      }
      return absl::StrCat(
          "[",
          absl::StrJoin(lines,
                        absl::StrCat(",\n", std::string(indent + 1, ' '))),
          "]");
    }
    for (int64_t i : ShownIndices(size)) {
      parts.push_back(i < 0
                          ? "..."
                          : PrintDims(formatter, dim + 1,
                                      offset + i * strides_[dim], indent + 1));
    }
    const std::string separator = absl::StrCat(
        ",", std::string(dims_left - 1, '\n'), std::string(indent + 1, ' '));
    return absl::StrCat("[", absl::StrJoin(parts, separator), "]");
  }

  const Tensor& tensor_;
  const bool summarize_;
  std::vector<int64_t> strides_;
};

// Python's str(tuple(shape)): "(0, 2)", "(0,)".
std::string ShapeTuple(const Shape& shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

// torch._tensor_str._add_suffixes: ", suffix" while the last line stays
// within the line width, else on a new line.
std::string AddSuffixes(std::string text,
                        const std::vector<std::string>& suffixes, int indent) {
  const size_t newline = text.rfind('\n');
  // Python's len(s) - s.rfind("\n") + 1, where rfind gives -1 if absent.
  int64_t last_line_length =
      static_cast<int64_t>(text.size()) -
      (newline == std::string::npos ? -1 : static_cast<int64_t>(newline)) + 1;
  for (const std::string& suffix : suffixes) {
    const int64_t suffix_length = static_cast<int64_t>(suffix.size());
    if (last_line_length + suffix_length + 2 > kLineWidth) {
      absl::StrAppend(&text, ",\n", std::string(indent, ' '), suffix);
      last_line_length = indent + suffix_length;
    } else {
      absl::StrAppend(&text, ", ", suffix);
      last_line_length += suffix_length + 2;
    }
  }
  text += ")";
  return text;
}

std::string DTypeSuffix(DType dtype) {
  return absl::StrCat("dtype=torch.", DTypeName(dtype));
}

}  // namespace

std::string FormatLikeTorch(const Tensor& tensor) {
  const int indent = static_cast<int>(kPrefix.size());
  std::vector<std::string> suffixes;
  std::string body;
  if (tensor.num_elements() == 0) {
    // The shape is shown unless it is (0,); the dtype unless it is the
    // default float32, since there are no elements to tell.
    if (tensor.rank() != 1) {
      suffixes.push_back(absl::StrCat("size=", ShapeTuple(tensor.shape())));
    }
    if (tensor.dtype() != DType::kFloat32) {
      suffixes.push_back(DTypeSuffix(tensor.dtype()));
    }
    body = "[]";
  } else {
    const DType dtype = tensor.dtype();
    if (dtype != DType::kFloat32 && dtype != DType::kInt64 &&
        dtype != DType::kBool) {
      suffixes.push_back(DTypeSuffix(dtype));
    }
    body = TensorPrinter(tensor).Print(indent);
  }
  return AddSuffixes(absl::StrCat(kPrefix, body), suffixes, indent);
}

std::string FormatSelectionLikeTorch(absl::string_view op, const Tensor& values,
                                     const Tensor& indices) {
  return absl::StrCat("torch.return_types.", op,
                      "(\nvalues=", FormatLikeTorch(values),
                      ",\nindices=", FormatLikeTorch(indices), ")");
}

}  // namespace tensorops::client
