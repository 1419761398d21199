// Same-host tensors through shared memory from C++: a POSIX shared memory
// object this process creates, maps and registers as one of its client's
// regions, and TopK whose input and results lie in one.
//
//   auto region = SharedMemoryRegion::Create(*client, bytes);
//   auto top = SharedMemoryTopK(*client, x, {.k = 50}, *region);
//   // top->values and top->indices view the region; nothing went over gRPC
//   // but the request's and response's headers.
//
// Needs a server on this host started with --allow_shared_memory.
#ifndef TENSOROPS_CLIENT_SHARED_MEMORY_REGION_H_
#define TENSOROPS_CLIENT_SHARED_MEMORY_REGION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "client/tensor_ops_client.h"
#include "core/tensor.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::client {

class SharedMemoryRegion {
 public:
  // Creates an object of `byte_size` bytes (> 0) and registers it with
  // `client` under a name unique to this process; `client` must outlive the
  // region. The server's error (FAILED_PRECONDITION when shared memory is
  // off) or the system's (RESOURCE_EXHAUSTED) on failure, with nothing left
  // behind.
  static absl::StatusOr<std::shared_ptr<SharedMemoryRegion>> Create(
      TensorOpsClient& client, int64_t byte_size);

  // Unregisters the region, unmaps it and unlinks the object.
  ~SharedMemoryRegion();
  SharedMemoryRegion(const SharedMemoryRegion&) = delete;
  SharedMemoryRegion& operator=(const SharedMemoryRegion&) = delete;

  std::byte* data() const { return data_; }
  int64_t byte_size() const { return byte_size_; }
  // The region's name at the server, and the object's ("/" + name).
  const std::string& name() const { return name_; }
  const std::string& key() const { return key_; }

  // A reference to [offset, offset + byte_size) of the region.
  tensorops::v1::SharedMemoryRef Ref(int64_t offset, int64_t byte_size) const;

 private:
  SharedMemoryRegion(TensorOpsClient& client, std::string name, std::byte* data,
                     int64_t byte_size)
      : client_(client),
        name_(std::move(name)),
        key_("/" + name_),
        data_(data),
        byte_size_(byte_size) {}

  TensorOpsClient& client_;
  const std::string name_;
  const std::string key_;
  std::byte* const data_;
  const int64_t byte_size_;
  bool registered_ = false;
};

// The region bytes SharedMemoryTopK needs for `input` and `params`: the
// input, then values and indices, each 64-byte aligned.
int64_t SharedMemoryTopKBytes(const Tensor& input, const TopKParams& params);

// TopK with the input copied into `region` (at offset 0) and values and
// indices written by the server after it; the results view the region,
// which they keep alive. INVALID_ARGUMENT if the region is smaller than
// SharedMemoryTopKBytes; otherwise TopK's errors.
absl::StatusOr<TopKOutput> SharedMemoryTopK(
    TensorOpsClient& client, const Tensor& input, const TopKParams& params,
    const std::shared_ptr<SharedMemoryRegion>& region);

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_SHARED_MEMORY_REGION_H_
