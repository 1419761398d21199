// The shared memory regions one call reads and writes: references resolved
// against the caller's registered regions, bounds-checked, and held until
// the call ends (so an Unregister meanwhile unmaps them only afterwards).
#ifndef TENSOROPS_SERVER_REGION_HOLDS_H_
#define TENSOROPS_SERVER_REGION_HOLDS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/chunked_tensor.h"
#include "core/dtype.h"
#include "core/op_plans.h"
#include "core/shape.h"
#include "server/shared_memory_registry.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::server {

class RegionHolds {
 public:
  RegionHolds(SharedMemoryRegistry& registry, std::string owner)
      : registry_(&registry), owner_(std::move(owner)) {}

  // The bytes of request tensor `tensor` (called `field`) when they are
  // elsewhere than in its data: `lifted` (lifted out of the message), or
  // the region its shared_memory names, as shared bytes (core reads them
  // once, into private memory). INVALID_ARGUMENT for a tensor with both
  // data and shared_memory, a bad reference or dtype and shape, or a range
  // outside the region or of the wrong size; the registry's errors.
  absl::StatusOr<std::optional<ChunkedBytes>> Input(
      const tensorops::v1::Tensor& tensor,
      const std::optional<ChunkedBytes>& lifted, absl::string_view field);

  // Where a result of `dtype` and `byte_size` bytes goes when the request
  // set `ref` (the field called `field`): the range of a writable region.
  // FAILED_PRECONDITION for a read-only region; as Input otherwise.
  absl::StatusOr<OutputMemory> Output(const tensorops::v1::SharedMemoryRef& ref,
                                      DType dtype, int64_t byte_size,
                                      absl::string_view field);

  // After the call's kernels: FAILED_PRECONDITION if a region it used was
  // found truncated (its results are then not to be trusted).
  absl::Status CheckIntact() const;

 private:
  absl::StatusOr<FoundRegion> Find(const tensorops::v1::SharedMemoryRef& ref,
                                   absl::string_view field);

  SharedMemoryRegistry* registry_;
  std::string owner_;
  std::vector<std::pair<std::string, std::shared_ptr<const MappedRegion>>>
      held_;
};

// A response tensor whose bytes went to shared memory: dtype, shape and the
// reference (its byte_size the result's), no data.
void RegionResultToProto(DType dtype, ShapeView shape,
                         const tensorops::v1::SharedMemoryRef& ref,
                         int64_t byte_size, tensorops::v1::Tensor* out);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_REGION_HOLDS_H_
