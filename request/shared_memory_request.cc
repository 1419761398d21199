#include "request/shared_memory_request.h"

#include <limits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tensorops::request {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", what));
}

bool EndFits(int64_t offset, int64_t byte_size) {
  return byte_size <= std::numeric_limits<int64_t>::max() - offset;
}

}  // namespace

absl::Status ValidateRegionName(absl::string_view name,
                                absl::string_view field) {
  if (name.empty() || name.size() > kMaxRegionNameLength) {
    return Invalid(
        field, absl::StrCat("has ", name.size(), " characters; expected 1 to ",
                            kMaxRegionNameLength));
  }
  for (const char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '-') {
      return Invalid(field,
                     "holds a character outside [A-Za-z0-9._-]; expected a "
                     "name of letters, digits, '.', '_' and '-'");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRegisterSharedMemory(
    const tensorops::v1::RegisterSharedMemoryRequest& request) {
  if (absl::Status name = ValidateRegionName(request.name(), "name");
      !name.ok()) {
    return name;
  }
  const std::string& key = request.key();
  const std::string& file = request.file();
  if (key.empty() == file.empty()) {
    return absl::InvalidArgumentError(
        "exactly one of key (a POSIX shared memory object, \"/name\") and "
        "file (an absolute path) must be set");
  }
  if (!key.empty()) {
    if (key.size() < 2 || key.size() > kMaxRegionKeyLength || key[0] != '/' ||
        key.find('/', 1) != std::string::npos ||
        key.find('\0') != std::string::npos) {
      return Invalid("key", absl::StrCat("\"", absl::CEscape(key),
                                         "\" is not a POSIX shared memory "
                                         "name; expected \"/\" and 1 to ",
                                         kMaxRegionKeyLength - 1,
                                         " characters without '/'"));
    }
  } else {
    if (file.size() > kMaxRegionFileLength || file[0] != '/' ||
        file.find('\0') != std::string::npos) {
      return Invalid("file", "is not an absolute path (or is too long)");
    }
    const std::vector<absl::string_view> parts =
        absl::StrSplit(absl::string_view(file).substr(1), '/');
    for (absl::string_view part : parts) {
      if (part.empty() || part == "." || part == "..") {
        return Invalid("file",
                       "has an empty, \".\" or \"..\" part; expected a plain "
                       "absolute path");
      }
    }
  }
  if (request.offset() < 0) {
    return Invalid("offset", absl::StrCat("is ", request.offset(),
                                          "; expected 0 or more"));
  }
  if (request.byte_size() < 1) {
    return Invalid("byte_size", absl::StrCat("is ", request.byte_size(),
                                             "; expected 1 or more"));
  }
  if (!EndFits(request.offset(), request.byte_size())) {
    return Invalid("offset + byte_size", "overflows int64");
  }
  return absl::OkStatus();
}

absl::Status ValidateUnregisterSharedMemory(
    const tensorops::v1::UnregisterSharedMemoryRequest& request) {
  if (request.name().empty()) return absl::OkStatus();
  return ValidateRegionName(request.name(), "name");
}

absl::Status ValidateRegionRef(const tensorops::v1::SharedMemoryRef& ref,
                               absl::string_view field) {
  if (absl::Status name =
          ValidateRegionName(ref.region(), absl::StrCat(field, ".region"));
      !name.ok()) {
    return name;
  }
  if (ref.offset() < 0 || ref.byte_size() < 0 ||
      !EndFits(ref.offset(), ref.byte_size())) {
    return Invalid(field, absl::StrCat("has offset ", ref.offset(),
                                       " and byte_size ", ref.byte_size(),
                                       "; expected both 0 or more, their "
                                       "sum within int64"));
  }
  return absl::OkStatus();
}

absl::Status CheckRegionRange(const tensorops::v1::SharedMemoryRef& ref,
                              int64_t region_byte_size, int64_t region_offset,
                              int64_t element_size, int64_t tensor_bytes,
                              RefSize size, absl::string_view field) {
  if (ref.offset() > region_byte_size ||
      ref.byte_size() > region_byte_size - ref.offset()) {
    return Invalid(field, absl::StrCat("[", ref.offset(), ", ",
                                       ref.offset() + ref.byte_size(),
                                       ") lies outside region ", ref.region(),
                                       " of ", region_byte_size, " bytes"));
  }
  if ((region_offset + ref.offset()) % element_size != 0) {
    return Invalid(field,
                   absl::StrCat("starts at byte ", region_offset + ref.offset(),
                                " of its object; expected a multiple "
                                "of the element size, ",
                                element_size));
  }
  if (size == RefSize::kExact && ref.byte_size() != tensor_bytes) {
    return Invalid(field, absl::StrCat("has byte_size ", ref.byte_size(),
                                       " but the tensor holds exactly ",
                                       tensor_bytes, " bytes"));
  }
  if (size == RefSize::kAtLeast && ref.byte_size() < tensor_bytes) {
    return Invalid(
        field, absl::StrCat("has byte_size ", ref.byte_size(),
                            " but the result needs ", tensor_bytes, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace tensorops::request
