#include "client/shared_memory_region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/op_plans.h"
#include "core/shape.h"
#include "core/status_macros.h"
#include "proto/tensor_codec.h"

namespace tensorops::client {
namespace {

namespace v1 = ::tensorops::v1;
using ::tensorops::wire::DataPolicy;
using ::tensorops::wire::SpecFromProto;
using ::tensorops::wire::SpecToProto;
using ::tensorops::wire::TensorSpec;

constexpr int64_t kAlignment = 64;

int64_t AlignUp(int64_t bytes) {
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

// Elements of TopK's values for `input` (core's own plan); the input's
// count for a call the server will refuse, so that the layout stays defined.
int64_t TopKResultElements(const Tensor& input, const TopKParams& params) {
  const absl::StatusOr<TopKPlan> plan = PlanTopK(input.dtype(), input.shape(),
                                                 {.k = params.k,
                                                  .dim = params.dim,
                                                  .largest = params.largest,
                                                  .sorted = params.sorted});
  if (!plan.ok()) return input.num_elements();
  return plan->input.slices() * plan->k;
}

// The result `wire` describes, viewing `region` at its reference.
absl::StatusOr<Tensor> ViewResult(
    const v1::Tensor& wire, absl::string_view field,
    const std::shared_ptr<SharedMemoryRegion>& region) {
  TENSOROPS_ASSIGN_OR_RETURN(const TensorSpec spec,
                             SpecFromProto(wire, field, DataPolicy::kOptional));
  const v1::SharedMemoryRef& ref = wire.shared_memory();
  if (ref.region() != region->name() || ref.offset() < 0 ||
      ref.offset() + spec.byte_size > region->byte_size()) {
    return absl::InternalError(absl::StrCat(
        "the server's ", field, " does not lie in region ", region->name()));
  }
  return Tensor::View(
      spec.dtype, spec.shape,
      {region->data() + ref.offset(), static_cast<size_t>(spec.byte_size)},
      region);
}

}  // namespace

absl::StatusOr<std::shared_ptr<SharedMemoryRegion>> SharedMemoryRegion::Create(
    TensorOpsClient& client, int64_t byte_size) {
  if (byte_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("a shared memory region of ", byte_size,
                     " bytes; expected at least 1"));
  }
  static std::atomic<int> counter{0};
  const std::string name =
      absl::StrCat("tensorops-cpp-", getpid(), "-", counter.fetch_add(1));
  const std::string key = "/" + name;
  const int fd = shm_open(key.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("shm_open(", key, "): ", std::strerror(errno)));
  }
  void* mapped = MAP_FAILED;
  if (ftruncate(fd, byte_size) == 0) {
    mapped = mmap(nullptr, static_cast<size_t>(byte_size),
                  PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  const int saved_errno = errno;
  close(fd);
  if (mapped == MAP_FAILED) {
    shm_unlink(key.c_str());
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot make ", key, " ", byte_size,
                     " bytes long and map it: ", std::strerror(saved_errno)));
  }
  std::shared_ptr<SharedMemoryRegion> region(new SharedMemoryRegion(
      client, name, static_cast<std::byte*>(mapped), byte_size));
  v1::RegisterSharedMemoryRequest request;
  request.set_name(name);
  request.set_key(key);
  request.set_byte_size(byte_size);
  // On failure the region goes with `region`: unmapped and unlinked.
  TENSOROPS_RETURN_IF_ERROR(client.RegisterSharedMemory(request));
  region->registered_ = true;
  return region;
}

SharedMemoryRegion::~SharedMemoryRegion() {
  if (registered_) client_.UnregisterSharedMemory(name_).IgnoreError();
  munmap(data_, static_cast<size_t>(byte_size_));
  shm_unlink(key_.c_str());
}

v1::SharedMemoryRef SharedMemoryRegion::Ref(int64_t offset,
                                            int64_t byte_size) const {
  v1::SharedMemoryRef ref;
  ref.set_region(name_);
  ref.set_offset(offset);
  ref.set_byte_size(byte_size);
  return ref;
}

int64_t SharedMemoryTopKBytes(const Tensor& input, const TopKParams& params) {
  const int64_t results = TopKResultElements(input, params);
  return AlignUp(static_cast<int64_t>(input.byte_size())) +
         AlignUp(results * static_cast<int64_t>(DTypeSize(input.dtype()))) +
         std::max<int64_t>(results * 8, 1);
}

absl::StatusOr<TopKOutput> SharedMemoryTopK(
    TensorOpsClient& client, const Tensor& input, const TopKParams& params,
    const std::shared_ptr<SharedMemoryRegion>& region) {
  const int64_t needed = SharedMemoryTopKBytes(input, params);
  if (region->byte_size() < needed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "region ", region->name(), " has ", region->byte_size(),
        " bytes; this TopK needs ", needed, " (SharedMemoryTopKBytes)"));
  }
  const int64_t results = TopKResultElements(input, params);
  const int64_t input_bytes = static_cast<int64_t>(input.byte_size());
  const int64_t values_offset = AlignUp(input_bytes);
  const int64_t values_bytes =
      results * static_cast<int64_t>(DTypeSize(input.dtype()));
  const int64_t indices_offset = values_offset + AlignUp(values_bytes);
  if (input_bytes > 0) {
    std::memcpy(region->data(), input.bytes().data(), input.byte_size());
  }
  v1::TopKRequest request;
  SpecToProto(input.dtype(), input.shape(), request.mutable_input());
  *request.mutable_input()->mutable_shared_memory() =
      region->Ref(0, input_bytes);
  request.set_k(params.k);
  request.set_dim(params.dim);
  request.set_largest(params.largest);
  request.set_sorted(params.sorted);
  request.set_save_for_backward(params.save_for_backward);
  *request.mutable_values_shared_memory() =
      region->Ref(values_offset, values_bytes);
  *request.mutable_indices_shared_memory() =
      region->Ref(indices_offset, results * 8);
  v1::TopKResponse response;
  TENSOROPS_RETURN_IF_ERROR(client.Call("TopK", request, &response));
  TopKOutput out;
  TENSOROPS_ASSIGN_OR_RETURN(out.values,
                             ViewResult(response.values(), "values", region));
  TENSOROPS_ASSIGN_OR_RETURN(out.indices,
                             ViewResult(response.indices(), "indices", region));
  out.session_id = response.session_id();
  return out;
}

}  // namespace tensorops::client
