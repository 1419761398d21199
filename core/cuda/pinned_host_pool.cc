#include "core/cuda/pinned_host_pool.h"

#include <cuda_runtime_api.h>

#include "core/cuda/cuda_status.h"

namespace tensorops::cuda {
namespace {

constexpr size_t kMinCapacity = size_t{64} << 10;

size_t CapacityFor(size_t bytes) {
  size_t capacity = kMinCapacity;
  while (capacity < bytes) capacity <<= 1;
  return capacity;
}

}  // namespace

PinnedHostPool::~PinnedHostPool() {
  for (auto& [capacity, buffers] : free_) {
    for (void* buffer : buffers) cudaFreeHost(buffer);
  }
}

absl::StatusOr<PinnedHostPool::Buffer> PinnedHostPool::Acquire(size_t bytes) {
  const size_t capacity = CapacityFor(bytes);
  {
    absl::MutexLock lock(&mutex_);
    auto it = free_.find(capacity);
    if (it != free_.end() && !it->second.empty()) {
      void* data = it->second.back();
      it->second.pop_back();
      cached_bytes_ -= capacity;
      return Buffer{data, capacity};
    }
  }
  void* data = nullptr;
  TENSOROPS_CUDA_RETURN_IF_ERROR(
      cudaHostAlloc(&data, capacity, cudaHostAllocDefault),
      "cudaHostAlloc of a pinned staging buffer");
  return Buffer{data, capacity};
}

void PinnedHostPool::Release(Buffer buffer) {
  if (buffer.data == nullptr) return;
  {
    absl::MutexLock lock(&mutex_);
    if (cached_bytes_ + buffer.capacity <= max_cached_bytes_) {
      free_[buffer.capacity].push_back(buffer.data);
      cached_bytes_ += buffer.capacity;
      return;
    }
  }
  cudaFreeHost(buffer.data);
}

}  // namespace tensorops::cuda
