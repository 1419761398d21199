#include "client/cli/tensor_io.h"

#include <iostream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/cli/cli_errors.h"
#include "client/cli/npy.h"
#include "client/cli/tensor_literal.h"
#include "client/cli/torch_format.h"
#include "core/status_macros.h"

namespace tensorops::client {
namespace {

// JSON string literal; session ids are URL-safe, but quote defensively.
std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

absl::StatusOr<DType> ParseDTypeName(absl::string_view name) {
  absl::string_view bare = name;
  absl::ConsumePrefix(&bare, "torch.");
  if (std::optional<DType> dtype = DTypeFromName(bare); dtype.has_value()) {
    return *dtype;
  }
  static constexpr std::pair<absl::string_view, DType> kAliases[] = {
      {"float", DType::kFloat32}, {"double", DType::kFloat64},
      {"half", DType::kFloat16},  {"long", DType::kInt64},
      {"int", DType::kInt32},     {"short", DType::kInt16},
  };
  for (const auto& [alias, dtype] : kAliases) {
    if (alias == bare) return dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype '", name,
      "'; expected float32, float64, float16, bfloat16, int8, int16, int32, "
      "int64, uint8 or bool"));
}

absl::StatusOr<Tensor> ReadTensorArgument(absl::string_view arg,
                                          std::optional<DType> dtype) {
  absl::StatusOr<Tensor> read;
  if (arg == "-") {
    std::ostringstream contents;
    contents << std::cin.rdbuf();
    if (std::cin.bad()) {
      return LocalFileError(absl::UnknownError("cannot read standard input"));
    }
    const std::string bytes = contents.str();
    if (!absl::StartsWith(bytes, kNpyMagic)) {
      return ParseTensorLiteral(absl::StripAsciiWhitespace(bytes), dtype);
    }
    read = DecodeNpy(bytes);
  } else if (absl::EndsWith(arg, ".npy")) {
    read = ReadNpyFile(std::string(arg));
  } else {
    return ParseTensorLiteral(arg, dtype);
  }
  TENSOROPS_ASSIGN_OR_RETURN(Tensor tensor, std::move(read));
  if (dtype.has_value() && *dtype != tensor.dtype()) {
    return absl::InvalidArgumentError(
        absl::StrCat(arg == "-" ? "standard input" : arg, " holds ",
                     DTypeName(tensor.dtype()), ", not ", DTypeName(*dtype),
                     " (--dtype chooses the dtype of literal tensors only)"));
  }
  return tensor;
}

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text) {
  OutputFormat format;
  absl::string_view paths = text;
  if (text == "torch") {
    format.kind = OutputFormat::Kind::kTorch;
  } else if (text == "json") {
    format.kind = OutputFormat::Kind::kJson;
  } else if (absl::ConsumePrefix(&paths, "npy:") && !paths.empty()) {
    format.kind = OutputFormat::Kind::kNpy;
    format.npy_paths = absl::StrSplit(paths, ',');
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --output '", text,
                     "'; expected torch, json or npy:PATH[,PATH]"));
  }
  return format;
}

absl::Status WriteTensor(const OutputFormat& format, const Tensor& tensor,
                         std::ostream& out) {
  switch (format.kind) {
    case OutputFormat::Kind::kTorch:
      out << FormatLikeTorch(tensor) << "\n";
      return absl::OkStatus();
    case OutputFormat::Kind::kJson:
      out << TensorToJson(tensor) << "\n";
      return absl::OkStatus();
    case OutputFormat::Kind::kNpy:
      if (format.npy_paths.size() != 1) {
        return absl::InvalidArgumentError(
            "this command has one result; expected --output npy:PATH");
      }
      return WriteNpyFile(format.npy_paths[0], tensor);
  }
  return absl::InternalError("unknown output format");
}

absl::Status WriteSelection(const OutputFormat& format, absl::string_view op,
                            const TopKOutput& result, std::ostream& out) {
  switch (format.kind) {
    case OutputFormat::Kind::kTorch:
      out << FormatSelectionLikeTorch(op, result.values, result.indices)
          << "\n";
      break;
    case OutputFormat::Kind::kJson:
      out << "{\"values\": " << TensorToJson(result.values)
          << ", \"indices\": " << TensorToJson(result.indices);
      if (!result.session_id.empty()) {
        out << ", \"session_id\": " << JsonString(result.session_id);
      }
      out << "}\n";
      return absl::OkStatus();
    case OutputFormat::Kind::kNpy:
      if (format.npy_paths.size() != 2) {
        return absl::InvalidArgumentError(
            absl::StrCat(op,
                         " has two results; expected --output "
                         "npy:VALUES.npy,INDICES.npy"));
      }
      TENSOROPS_RETURN_IF_ERROR(
          WriteNpyFile(format.npy_paths[0], result.values));
      TENSOROPS_RETURN_IF_ERROR(
          WriteNpyFile(format.npy_paths[1], result.indices));
      break;
  }
  if (!result.session_id.empty()) {
    out << "session_id=" << result.session_id << "\n";
  }
  return absl::OkStatus();
}

}  // namespace tensorops::client
