// A cache of page-locked host buffers for staging transfers, so requests do
// not pay cudaHostAlloc (which is slow and serializing) every time.
#ifndef TENSOROPS_CORE_CUDA_PINNED_HOST_POOL_H_
#define TENSOROPS_CORE_CUDA_PINNED_HOST_POOL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace tensorops::cuda {

// Thread-safe. Buffers are rounded up to a power of two (at least 64 KiB) and
// kept for reuse while the cache holds at most `max_cached_bytes`.
class PinnedHostPool {
 public:
  struct Buffer {
    void* data = nullptr;
    size_t capacity = 0;
  };

  explicit PinnedHostPool(size_t max_cached_bytes)
      : max_cached_bytes_(max_cached_bytes) {}
  ~PinnedHostPool();

  PinnedHostPool(const PinnedHostPool&) = delete;
  PinnedHostPool& operator=(const PinnedHostPool&) = delete;

  // A buffer of at least `bytes`; RESOURCE_EXHAUSTED/INTERNAL on CUDA errors.
  absl::StatusOr<Buffer> Acquire(size_t bytes);
  // Returns a buffer from Acquire once no transfer uses it any more.
  void Release(Buffer buffer);

 private:
  const size_t max_cached_bytes_;
  absl::Mutex mutex_;
  std::map<size_t, std::vector<void*>> free_ ABSL_GUARDED_BY(mutex_);
  size_t cached_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace tensorops::cuda

#endif  // TENSOROPS_CORE_CUDA_PINNED_HOST_POOL_H_
