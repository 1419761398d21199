#include "client/cli/npy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "client/cli/cli_errors.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/status_macros.h"

namespace tensorops::client {
namespace {

constexpr size_t kAlignment = 64;

absl::Status NpyError(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("not a supported .npy file: ", what));
}

// The type code after the byte-order character, e.g. "f4" for '<f4'.
struct DTypeCode {
  DType dtype;
  absl::string_view code;
};
constexpr DTypeCode kDTypeCodes[] = {
    {DType::kFloat32, "f4"},  {DType::kFloat64, "f8"}, {DType::kFloat16, "f2"},
    {DType::kBFloat16, "V2"}, {DType::kInt8, "i1"},    {DType::kInt16, "i2"},
    {DType::kInt32, "i4"},    {DType::kInt64, "i8"},   {DType::kUInt8, "u1"},
    {DType::kBool, "b1"},
};

std::string DescrOf(DType dtype) {
  for (const DTypeCode& entry : kDTypeCodes) {
    if (entry.dtype == dtype) {
      // NumPy writes '|' ("not applicable") for one-byte and void types.
      const char order =
          DTypeSize(dtype) == 1 || dtype == DType::kBFloat16 ? '|' : '<';
      return absl::StrCat(absl::string_view(&order, 1), entry.code);
    }
  }
  return "";
}

absl::StatusOr<DType> DTypeFromDescr(absl::string_view descr) {
  if (descr.size() >= 2) {
    const char order = descr[0];
    const absl::string_view code = descr.substr(1);
    for (const DTypeCode& entry : kDTypeCodes) {
      if (entry.code != code) continue;
      const bool single_byte = DTypeSize(entry.dtype) == 1;
      if (order == '<' || order == '|' || order == '=' ||
          (order == '>' && single_byte)) {
        return entry.dtype;
      }
      if (order == '>') {
        return NpyError(absl::StrCat(
            "dtype '", descr,
            "' is big-endian; save it little-endian, e.g. arr.astype('<", code,
            "')"));
      }
    }
  }
  return NpyError(absl::StrCat(
      "dtype '", descr,
      "' is not supported; expected one of '<f4', '<f8', '<f2', '|V2' "
      "(bfloat16), '|i1', '<i2', '<i4', '<i8', '|u1', '|b1'"));
}

// The header is a Python dict literal, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  explicit HeaderParser(absl::string_view text) : text_(text) {}

  absl::Status Parse() {
    if (!Consume('{')) return Error("expected '{'");
    while (!Consume('}')) {
      TENSOROPS_ASSIGN_OR_RETURN(const std::string key, ParseString());
      if (!Consume(':')) return Error("expected ':'");
      if (key == "descr") {
        if (Peek() == '[') {
          return NpyError("structured dtypes are not supported");
        }
        TENSOROPS_ASSIGN_OR_RETURN(descr_, ParseString());
      } else if (key == "fortran_order") {
        TENSOROPS_ASSIGN_OR_RETURN(fortran_order_, ParseBool());
      } else if (key == "shape") {
        TENSOROPS_ASSIGN_OR_RETURN(shape_, ParseShape());
      } else {
        return Error(absl::StrCat("unexpected key '", key, "'"));
      }
      if (!Consume(',') && Peek() != '}') return Error("expected ',' or '}'");
    }
    if (!descr_.has_value() || !fortran_order_.has_value() ||
        !shape_.has_value()) {
      return Error("'descr', 'fortran_order' and 'shape' are required");
    }
    return absl::OkStatus();
  }

  const std::string& descr() const { return *descr_; }
  bool fortran_order() const { return *fortran_order_; }
  const Shape& shape() const { return *shape_; }

 private:
  absl::Status Error(absl::string_view what) const {
    return NpyError(
        absl::StrCat("header ", what, " at offset ", pos_, " in ", text_));
  }

  char Peek() {
    while (pos_ < text_.size() &&
           absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  bool Consume(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }

  absl::StatusOr<std::string> ParseString() {
    const char quote = Peek();
    if (quote != '\'' && quote != '"') return Error("expected a string");
    const size_t end = text_.find(quote, pos_ + 1);
    if (end == absl::string_view::npos) return Error("unterminated string");
    std::string value(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return value;
  }

  absl::StatusOr<bool> ParseBool() {
    Peek();
    for (const auto& [word, value] :
         {std::pair<absl::string_view, bool>{"True", true}, {"False", false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    return Error("expected True or False");
  }

  absl::StatusOr<Shape> ParseShape() {
    if (!Consume('(')) return Error("expected a tuple");
    Shape shape;
    while (!Consume(')')) {
      Peek();
      size_t end = pos_;
      while (end < text_.size() &&
             absl::ascii_isdigit(static_cast<unsigned char>(text_[end]))) {
        ++end;
      }
      // Old NumPy versions wrote Python 2 longs, e.g. (3L,).
      int64_t dim = 0;
      if (!absl::SimpleAtoi(text_.substr(pos_, end - pos_), &dim)) {
        return Error("expected a dimension");
      }
      pos_ = end;
      Consume('L');
      shape.push_back(dim);
      if (!Consume(',') && Peek() != ')') return Error("expected ',' or ')'");
    }
    return shape;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  std::optional<std::string> descr_;
  std::optional<bool> fortran_order_;
  std::optional<Shape> shape_;
};

uint32_t ReadLittleEndian(absl::string_view bytes, size_t size) {
  uint32_t value = 0;
  for (size_t i = 0; i < size; ++i) {
    value |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  }
  return value;
}

std::string ShapeRepr(const Shape& shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

// A .npy file's dtype, shape and its data (a part of the file's bytes).
struct NpyContents {
  DType dtype;
  Shape shape;
  absl::string_view data;
};

absl::StatusOr<NpyContents> ParseNpy(absl::string_view bytes) {
  if (bytes.size() < 10 || bytes.substr(0, kNpyMagic.size()) != kNpyMagic) {
    return NpyError("missing the \\x93NUMPY magic");
  }
  const int major = static_cast<uint8_t>(bytes[6]);
  if (major < 1 || major > 3) {
    return NpyError(
        absl::StrCat("format version ", major, ".x; expected 1.0, 2.0 or 3.0"));
  }
  // Version 1 has a 2-byte header length, later versions 4 bytes.
  const size_t length_size = major == 1 ? 2 : 4;
  const size_t header_start = 8 + length_size;
  if (bytes.size() < header_start) return NpyError("truncated header");
  const size_t header_size = ReadLittleEndian(bytes.substr(8), length_size);
  if (bytes.size() - header_start < header_size) {
    return NpyError("truncated header");
  }
  HeaderParser header(bytes.substr(header_start, header_size));
  TENSOROPS_RETURN_IF_ERROR(header.Parse());
  if (header.fortran_order()) {
    return NpyError(
        "the array is in Fortran order; save np.ascontiguousarray(arr)");
  }
  TENSOROPS_ASSIGN_OR_RETURN(const DType dtype, DTypeFromDescr(header.descr()));
  absl::StatusOr<int64_t> byte_size = ByteSize(dtype, header.shape());
  if (!byte_size.ok()) return NpyError(byte_size.status().message());
  const absl::string_view data = bytes.substr(header_start + header_size);
  if (data.size() != static_cast<size_t>(*byte_size)) {
    return NpyError(absl::StrCat("the data has ", data.size(), " bytes; shape ",
                                 ShapeRepr(header.shape()), " of '",
                                 header.descr(), "' needs ", *byte_size));
  }
  return NpyContents{dtype, header.shape(), data};
}

absl::Span<const std::byte> AsBytes(absl::string_view data) {
  return absl::MakeConstSpan(reinterpret_cast<const std::byte*>(data.data()),
                             data.size());
}

// A read-only private map of a whole file, unmapped with its last owner.
struct MappedFile {
  MappedFile(void* address, size_t size) : address(address), size(size) {}
  ~MappedFile() { munmap(address, size); }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  absl::string_view bytes() const {
    return {static_cast<const char*>(address), size};
  }

  void* address;
  size_t size;
};

// `path` mapped, or nullptr where it cannot be (not a regular file, empty,
// or mmap refuses): the caller then reads it.
std::shared_ptr<const MappedFile> MapFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat info;
  std::shared_ptr<const MappedFile> mapped;
  if (fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && info.st_size > 0) {
    void* address = mmap(nullptr, static_cast<size_t>(info.st_size), PROT_READ,
                         MAP_PRIVATE, fd, 0);
    if (address != MAP_FAILED) {
      mapped = std::make_shared<const MappedFile>(
          address, static_cast<size_t>(info.st_size));
    }
  }
  close(fd);  // the map stays valid
  return mapped;
}

absl::Status InFile(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(path, ": ", status.message()));
}

}  // namespace

absl::StatusOr<Tensor> DecodeNpy(absl::string_view bytes) {
  TENSOROPS_ASSIGN_OR_RETURN(NpyContents contents, ParseNpy(bytes));
  return Tensor::CopyOf(contents.dtype, std::move(contents.shape),
                        AsBytes(contents.data));
}

std::string EncodeNpyHeader(const Tensor& tensor) {
  std::string header = absl::StrCat(
      "{'descr': '", DescrOf(tensor.dtype()),
      "', 'fortran_order': False, 'shape': ", ShapeRepr(tensor.shape()), ", }");
  // Pad with spaces and end with a newline so the data is aligned.
  const bool version1 = header.size() + 1 + kAlignment <= 65535;
  const size_t prefix_size = version1 ? 10 : 12;
  const size_t unpadded = prefix_size + header.size() + 1;
  header.append((kAlignment - unpadded % kAlignment) % kAlignment, ' ');
  header += '\n';
  std::string out(kNpyMagic);
  out += static_cast<char>(version1 ? 1 : 2);
  out += '\0';
  const size_t length_size = version1 ? 2 : 4;
  for (size_t i = 0; i < length_size; ++i) {
    out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  out += header;
  return out;
}

std::string EncodeNpy(const Tensor& tensor) {
  std::string out = EncodeNpyHeader(tensor);
  out.append(reinterpret_cast<const char*>(tensor.data()), tensor.byte_size());
  return out;
}

absl::StatusOr<Tensor> ReadNpyFile(const std::string& path) {
  if (std::shared_ptr<const MappedFile> mapped = MapFile(path)) {
    absl::StatusOr<NpyContents> contents = ParseNpy(mapped->bytes());
    if (!contents.ok()) return InFile(path, contents.status());
    const absl::Span<const std::byte> data = AsBytes(contents->data);
    return Tensor::View(contents->dtype, std::move(contents->shape), data,
                        std::move(mapped));
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return LocalFileError(absl::NotFoundError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno))));
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  absl::StatusOr<Tensor> tensor = DecodeNpy(contents.str());
  if (!tensor.ok()) return InFile(path, tensor.status());
  return tensor;
}

absl::Status WriteNpyFile(const std::string& path, const Tensor& tensor) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  const std::string header = EncodeNpyHeader(tensor);
  file.write(header.data(), static_cast<std::streamsize>(header.size()));
  // Straight from the tensor, a piece at a time: no copy of a result that
  // may be larger than the memory left.
  constexpr size_t kPieceBytes = size_t{64} << 20;
  const char* data = reinterpret_cast<const char*>(tensor.data());
  for (size_t offset = 0; file && offset < tensor.byte_size();
       offset += kPieceBytes) {
    file.write(data + offset, static_cast<std::streamsize>(std::min(
                                  kPieceBytes, tensor.byte_size() - offset)));
  }
  file.close();
  if (!file) {
    return LocalFileError(absl::UnknownError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno))));
  }
  return absl::OkStatus();
}

}  // namespace tensorops::client
