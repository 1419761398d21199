// Shared memory requests and references, validated without touching a
// region: the registry (server/shared_memory_registry.h) maps and finds
// regions only for requests that passed these checks.
#ifndef TENSOROPS_REQUEST_SHARED_MEMORY_REQUEST_H_
#define TENSOROPS_REQUEST_SHARED_MEMORY_REQUEST_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::request {

// Longest region name, key and file path accepted.
inline constexpr size_t kMaxRegionNameLength = 128;
inline constexpr size_t kMaxRegionKeyLength = 255;
inline constexpr size_t kMaxRegionFileLength = 4096;

// INVALID_ARGUMENT, naming `field`, unless `name` is 1-128 characters of
// [A-Za-z0-9._-].
absl::Status ValidateRegionName(absl::string_view name,
                                absl::string_view field);

// INVALID_ARGUMENT for a bad name, not exactly one of key and file, a key
// that is not "/" and a name without '/', a file path that is not absolute
// or has empty, "." or ".." parts, a negative offset, a byte_size below 1,
// or an end beyond int64.
absl::Status ValidateRegisterSharedMemory(
    const tensorops::v1::RegisterSharedMemoryRequest& request);

// INVALID_ARGUMENT for a name that is neither empty (all regions) nor valid.
absl::Status ValidateUnregisterSharedMemory(
    const tensorops::v1::UnregisterSharedMemoryRequest& request);

// INVALID_ARGUMENT, naming `field`, for a reference with a bad region name,
// a negative offset or byte_size, or an end beyond int64.
absl::Status ValidateRegionRef(const tensorops::v1::SharedMemoryRef& ref,
                               absl::string_view field);

// How a reference's byte_size must relate to the tensor's bytes.
enum class RefSize {
  kExact,    // an input: exactly the tensor's bytes
  kAtLeast,  // a result: room for them
};

// INVALID_ARGUMENT, naming `field`, unless the (validated) reference lies
// within a region of `region_byte_size` bytes that starts `region_offset`
// bytes into its object, starts on a multiple of `element_size` there, and
// its byte_size fits `tensor_bytes` as `size` says.
absl::Status CheckRegionRange(const tensorops::v1::SharedMemoryRef& ref,
                              int64_t region_byte_size, int64_t region_offset,
                              int64_t element_size, int64_t tensor_bytes,
                              RefSize size, absl::string_view field);

}  // namespace tensorops::request

#endif  // TENSOROPS_REQUEST_SHARED_MEMORY_REQUEST_H_
