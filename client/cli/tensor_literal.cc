#include "client/cli/tensor_literal.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/cli/tensor_values.h"
#include "core/half_float.h"
#include "core/status_macros.h"

namespace tensorops::client {
namespace {

// One element as written.
struct Leaf {
  enum class Kind : uint8_t { kInt, kFloat, kBool };
  Kind kind;
  int64_t int_value = 0;  // kInt; kBool as 0 or 1
  double float_value = 0;
  size_t offset = 0;  // where it starts in the text, for messages
};

// Recursive descent over the nested lists: collects the leaves in row-major
// order and checks that the lists form a rectangular shape.
class LiteralParser {
 public:
  explicit LiteralParser(absl::string_view text) : text_(text) {}

  absl::Status Parse() {
    SkipSpace();
    TENSOROPS_RETURN_IF_ERROR(ParseValue(0));
    SkipSpace();
    if (pos_ != text_.size()) {
      return Error("unexpected text after the tensor");
    }
    return absl::OkStatus();
  }

  Shape shape() const {
    return Shape(dims_.begin(),
                 dims_.begin() + static_cast<ptrdiff_t>(
                                     leaf_depth_.value_or(dims_.size())));
  }
  const std::vector<Leaf>& leaves() const { return leaves_; }

 private:
  absl::Status Error(absl::string_view what, size_t at) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot parse tensor: ", what, " at offset ", at, " of '",
        text_.size() > 60 ? absl::StrCat(text_.substr(0, 57), "...")
                          : std::string(text_),
        "'"));
  }
  absl::Status Error(absl::string_view what) const { return Error(what, pos_); }

  void SkipSpace() {
    while (pos_ < text_.size() &&
           absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }

  absl::Status ParseValue(size_t depth) {
    if (pos_ >= text_.size()) return Error("unexpected end, expected a value");
    if (text_[pos_] == '[') return ParseList(depth);
    return ParseScalar(depth);
  }

  absl::Status ParseList(size_t depth) {
    const size_t start = pos_;
    if (leaf_depth_.has_value() && depth >= *leaf_depth_) {
      return Error(
          "expected a number (not a list) like the other elements "
          "at this depth");
    }
    ++pos_;  // '['
    int64_t count = 0;
    SkipSpace();
    while (pos_ < text_.size() && text_[pos_] != ']') {
      TENSOROPS_RETURN_IF_ERROR(ParseValue(depth + 1));
      ++count;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        SkipSpace();
      } else if (pos_ < text_.size() && text_[pos_] != ']') {
        return Error("expected ',' or ']'");
      }
    }
    if (pos_ >= text_.size()) return Error("unexpected end, expected ']'");
    ++pos_;  // ']'
    if (dims_.size() <= depth) dims_.resize(depth + 1, -1);
    if (dims_[depth] < 0) {
      dims_[depth] = count;
    } else if (dims_[depth] != count) {
      return Error(
          absl::StrCat("expected a list of length ", dims_[depth], " at depth ",
                       depth, " like the first one, got length ", count),
          start);
    }
    return absl::OkStatus();
  }

  absl::Status ParseScalar(size_t depth) {
    const size_t start = pos_;
    if (!leaf_depth_.has_value()) {
      if (dims_.size() > depth) {
        return Error("expected a list like the other elements at this depth");
      }
      leaf_depth_ = depth;
    } else if (*leaf_depth_ != depth) {
      return Error("expected a list like the other elements at this depth");
    }
    Leaf leaf;
    leaf.offset = start;
    bool negative = false;
    if (text_[pos_] == '+' || text_[pos_] == '-') {
      negative = text_[pos_] == '-';
      ++pos_;
    }
    if (pos_ < text_.size() &&
        absl::ascii_isalpha(static_cast<unsigned char>(text_[pos_]))) {
      size_t end = pos_;
      while (end < text_.size() &&
             absl::ascii_isalpha(static_cast<unsigned char>(text_[end]))) {
        ++end;
      }
      const std::string word =
          absl::AsciiStrToLower(text_.substr(pos_, end - pos_));
      const bool has_sign = pos_ != start;
      if (word == "nan") {
        leaf.kind = Leaf::Kind::kFloat;
        leaf.float_value = negative ? -std::numeric_limits<double>::quiet_NaN()
                                    : std::numeric_limits<double>::quiet_NaN();
      } else if (word == "inf" || word == "infinity") {
        leaf.kind = Leaf::Kind::kFloat;
        leaf.float_value = negative ? -std::numeric_limits<double>::infinity()
                                    : std::numeric_limits<double>::infinity();
      } else if (!has_sign && (word == "true" || word == "false")) {
        leaf.kind = Leaf::Kind::kBool;
        leaf.int_value = word == "true" ? 1 : 0;
      } else {
        return Error(
            absl::StrCat("unexpected '", text_.substr(start, end - start),
                         "', expected a number, true or false"),
            start);
      }
      pos_ = end;
      leaves_.push_back(leaf);
      return absl::OkStatus();
    }
    // [digits] ["." [digits]] [("e"|"E") ["+"|"-"] digits], with at least
    // one mantissa digit.
    const size_t number_start = pos_;
    size_t mantissa_digits = CountDigits();
    bool is_integer = true;
    if (pos_ < text_.size() && text_[pos_] == '.') {
      is_integer = false;
      ++pos_;
      mantissa_digits += CountDigits();
    }
    if (mantissa_digits == 0) {
      return Error("expected a number, true or false", start);
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      is_integer = false;
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
        ++pos_;
      }
      if (CountDigits() == 0) return Error("expected exponent digits");
    }
    const std::string number = absl::StrCat(
        negative ? "-" : "", text_.substr(number_start, pos_ - number_start));
    if (is_integer) {
      leaf.kind = Leaf::Kind::kInt;
      const auto [end, error] = std::from_chars(
          number.data(), number.data() + number.size(), leaf.int_value);
      if (error != std::errc() || end != number.data() + number.size()) {
        return Error(absl::StrCat("integer ", number, " does not fit in int64"),
                     start);
      }
    } else {
      leaf.kind = Leaf::Kind::kFloat;
      // strtod, unlike from_chars, rounds overflow to inf as Python does.
      leaf.float_value = std::strtod(number.c_str(), nullptr);
    }
    leaves_.push_back(leaf);
    return absl::OkStatus();
  }

  size_t CountDigits() {
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
    return pos_ - start;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  // Length of the lists at each depth; -1 until one closes.
  std::vector<int64_t> dims_;
  // Depth of the numbers, once one is seen.
  std::optional<size_t> leaf_depth_;
  std::vector<Leaf> leaves_;
};

DType InferDType(const std::vector<Leaf>& leaves) {
  bool any_int = false;
  bool any_bool = false;
  for (const Leaf& leaf : leaves) {
    if (leaf.kind == Leaf::Kind::kFloat) return DType::kFloat32;
    any_int |= leaf.kind == Leaf::Kind::kInt;
    any_bool |= leaf.kind == Leaf::Kind::kBool;
  }
  if (any_int) return DType::kInt64;
  if (any_bool) return DType::kBool;
  return DType::kFloat32;
}

double LeafAsDouble(const Leaf& leaf) {
  return leaf.kind == Leaf::Kind::kFloat ? leaf.float_value
                                         : static_cast<double>(leaf.int_value);
}

template <typename T>
void Store(Tensor& tensor, int64_t i, T value) {
  std::memcpy(tensor.mutable_data() + i * sizeof(T), &value, sizeof(T));
}

template <typename T>
absl::Status StoreInteger(Tensor& tensor, int64_t i, const Leaf& leaf) {
  if (leaf.kind == Leaf::Kind::kFloat) {
    return absl::InvalidArgumentError(
        absl::StrCat("element ", i, " (offset ", leaf.offset, ") is ",
                     leaf.float_value, ", not an integer; dtype ",
                     DTypeName(tensor.dtype()), " takes integers"));
  }
  if (leaf.int_value < std::numeric_limits<T>::min() ||
      leaf.int_value > std::numeric_limits<T>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "element ", i, " (offset ", leaf.offset, ") is ", leaf.int_value,
        ", out of the range of ", DTypeName(tensor.dtype()), " [",
        static_cast<int64_t>(std::numeric_limits<T>::min()), ", ",
        static_cast<int64_t>(std::numeric_limits<T>::max()), "]"));
  }
  Store<T>(tensor, i, static_cast<T>(leaf.int_value));
  return absl::OkStatus();
}

absl::Status StoreLeaf(Tensor& tensor, int64_t i, const Leaf& leaf) {
  // torch.tensor converts Python numbers through double (then float for
  // the 16-bit types).
  const double value = LeafAsDouble(leaf);
  switch (tensor.dtype()) {
    case DType::kFloat32:
      Store<float>(tensor, i, static_cast<float>(value));
      return absl::OkStatus();
    case DType::kFloat64:
      Store<double>(tensor, i, value);
      return absl::OkStatus();
    case DType::kFloat16:
      Store<uint16_t>(tensor, i, FloatToHalf(static_cast<float>(value)));
      return absl::OkStatus();
    case DType::kBFloat16:
      Store<uint16_t>(tensor, i, FloatToBFloat16(static_cast<float>(value)));
      return absl::OkStatus();
    case DType::kInt8:
      return StoreInteger<int8_t>(tensor, i, leaf);
    case DType::kInt16:
      return StoreInteger<int16_t>(tensor, i, leaf);
    case DType::kInt32:
      return StoreInteger<int32_t>(tensor, i, leaf);
    case DType::kInt64:
      return StoreInteger<int64_t>(tensor, i, leaf);
    case DType::kUInt8:
      return StoreInteger<uint8_t>(tensor, i, leaf);
    case DType::kBool:
      Store<uint8_t>(tensor, i, value != 0 || std::isnan(value) ? 1 : 0);
      return absl::OkStatus();
  }
  return absl::InternalError("unknown dtype");
}

template <typename T>
void AppendFloat(T value, std::string& out) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "Infinity" : "-Infinity";
    return;
  }
  char buffer[64];
  const auto [end, error] =
      std::to_chars(buffer, buffer + sizeof(buffer), value);
  const absl::string_view text(buffer, end - buffer);
  out.append(text.data(), text.size());
  if (text.find_first_of(".e") == absl::string_view::npos) out += ".0";
}

void AppendElement(const Tensor& tensor, int64_t i, std::string& out) {
  switch (tensor.dtype()) {
    case DType::kBool:
      out += LoadAsInt64(tensor, i) != 0 ? "true" : "false";
      return;
    case DType::kFloat64:
      AppendFloat<double>(tensor.Load<double>(i), out);
      return;
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kBFloat16:
      // Every float16/bfloat16 value is a float; its shortest float text
      // reads back (through float) to the same 16-bit value.
      AppendFloat<float>(static_cast<float>(LoadAsDouble(tensor, i)), out);
      return;
    default:
      absl::StrAppend(&out, LoadAsInt64(tensor, i));
      return;
  }
}

void AppendNested(const Tensor& tensor, size_t dim, int64_t& next,
                  std::string& out) {
  if (dim == tensor.shape().size()) {
    AppendElement(tensor, next++, out);
    return;
  }
  out += "[";
  for (int64_t i = 0; i < tensor.shape()[dim]; ++i) {
    if (i > 0) out += ", ";
    AppendNested(tensor, dim + 1, next, out);
  }
  out += "]";
}

}  // namespace

absl::StatusOr<Tensor> ParseTensorLiteral(absl::string_view text,
                                          std::optional<DType> dtype) {
  LiteralParser parser(text);
  TENSOROPS_RETURN_IF_ERROR(parser.Parse());
  const std::vector<Leaf>& leaves = parser.leaves();
  TENSOROPS_ASSIGN_OR_RETURN(
      Tensor tensor,
      Tensor::Allocate(dtype.value_or(InferDType(leaves)), parser.shape()));
  for (int64_t i = 0; i < static_cast<int64_t>(leaves.size()); ++i) {
    TENSOROPS_RETURN_IF_ERROR(StoreLeaf(tensor, i, leaves[i]));
  }
  return tensor;
}

absl::StatusOr<Shape> ParseShapeLiteral(absl::string_view text) {
  absl::string_view inner = absl::StripAsciiWhitespace(text);
  if ((absl::ConsumePrefix(&inner, "[") && !absl::ConsumeSuffix(&inner, "]")) ||
      (absl::ConsumePrefix(&inner, "(") && !absl::ConsumeSuffix(&inner, ")"))) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse shape '", text, "': unbalanced brackets"));
  }
  Shape shape;
  std::vector<absl::string_view> parts = absl::StrSplit(inner, ',');
  // "(4,)" has an empty last part; "[]" has a single empty one.
  if (!parts.empty() && absl::StripAsciiWhitespace(parts.back()).empty()) {
    parts.pop_back();
  }
  for (absl::string_view part : parts) {
    int64_t dim = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &dim) || dim < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot parse shape '", text, "': '", part,
                       "' is not a dimension (an integer >= 0); expected e.g. "
                       "[2, 3]"));
    }
    shape.push_back(dim);
  }
  return shape;
}

std::string TensorToJsonList(const Tensor& tensor) {
  std::string out;
  int64_t next = 0;
  AppendNested(tensor, 0, next, out);
  return out;
}

std::string TensorToJson(const Tensor& tensor) {
  return absl::StrCat("{\"dtype\": \"", DTypeName(tensor.dtype()),
                      "\", \"shape\": [", absl::StrJoin(tensor.shape(), ", "),
                      "], \"data\": ", TensorToJsonList(tensor), "}");
}

}  // namespace tensorops::client
