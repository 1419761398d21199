// A caller's shared memory region, mapped into the server.
//
// The object belongs to another process, which may shrink it at any time;
// touching a mapped page beyond its new end raises SIGBUS, which would kill
// the server. The first Map() installs a SIGBUS handler that, for an address
// inside a live region, maps zero pages over the rest of it and marks the
// region truncated, so the access completes (reading zeros, or writing where
// nobody looks) and the call that made it fails once its kernel returns
// (TruncationError). Faults elsewhere go to the handler that was there
// before (or kill the process as they would have).
#ifndef TENSOROPS_SERVER_MAPPED_REGION_H_
#define TENSOROPS_SERVER_MAPPED_REGION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tensorops::server {

// The object a region maps: a POSIX shared memory object (key, "/name") or
// a regular file (file, an absolute path below `file_dir`); exactly one.
struct RegionSource {
  std::string key;
  std::string file;
};

class MappedRegion {
 public:
  // Regions mapped at once in the whole server (the fault handler's table);
  // Map() returns RESOURCE_EXHAUSTED past it.
  static constexpr int kMaxRegions = 4096;

  // Opens `source` (a file only below `file_dir`, an absolute directory
  // without a trailing slash; no symbolic link followed on the way) read-write
  // if the server may, else read-only, and maps [offset, offset + byte_size)
  // of it. NOT_FOUND for a missing object, PERMISSION_DENIED for one the
  // server may not open, INVALID_ARGUMENT for one that is not a regular file
  // or does not hold the range.
  static absl::StatusOr<std::shared_ptr<MappedRegion>> Map(
      const RegionSource& source, int64_t offset, int64_t byte_size,
      const std::string& file_dir);

  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;
  // Unmaps.
  ~MappedRegion();

  // The region's bytes (writable only if writable()).
  absl::Span<std::byte> bytes() const { return {data_, size_}; }
  bool writable() const { return writable_; }
  // Whether a fault showed the object shorter than the region.
  bool truncated() const;

  // FAILED_PRECONDITION saying that region `name` was truncated.
  static absl::Status TruncationError(const std::string& name);

 private:
  MappedRegion() = default;

  std::byte* mapping_ = nullptr;  // page-aligned start of the mapping
  size_t mapping_size_ = 0;
  std::byte* data_ = nullptr;  // the region: offset into the mapping
  size_t size_ = 0;
  bool writable_ = false;
  int slot_ = -1;  // in the fault handler's table
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_MAPPED_REGION_H_
