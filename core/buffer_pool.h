// Aligned host memory for tensor contents, with reuse of large blocks.
#ifndef TENSOROPS_CORE_BUFFER_POOL_H_
#define TENSOROPS_CORE_BUFFER_POOL_H_

#include <cstddef>
#include <map>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace tensorops {

// Touching fresh pages costs far more than computing on them (about 12 us per
// 4 KiB page on small VMs), so large blocks are kept after release and handed
// out again for requests of the same size class, already faulted in. Blocks of
// 2 MiB and more are also advised as transparent huge pages.
//
// Thread-safe. Blocks may outlive the pool only for Default(), which is never
// destroyed.
class BufferPool {
 public:
  struct Options {
    // Upper bound on the bytes kept for reuse; a released block that would
    // exceed it is returned to the system instead.
    size_t max_cached_bytes = size_t{1} << 30;
    // Blocks smaller than this go straight to the allocator (malloc is fast
    // and its pages stay warm at these sizes).
    size_t min_pooled_bytes = size_t{256} << 10;
  };

  static constexpr size_t kAlignment = 64;

  explicit BufferPool(Options options);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool();

  // The process-wide pool used by Tensor::Allocate.
  static BufferPool& Default();

  // A block of at least `bytes` bytes aligned to kAlignment, contents
  // unspecified. The block returns to the pool when the last owner drops it.
  // RESOURCE_EXHAUSTED if the memory cannot be had.
  absl::StatusOr<std::shared_ptr<std::byte>> Allocate(size_t bytes);

  // Bytes currently held for reuse.
  size_t cached_bytes() const;

  // Returns every cached block to the system.
  void Trim();

 private:
  void Release(std::byte* block, size_t size_class);

  const Options options_;
  mutable absl::Mutex mutex_;
  std::map<size_t, std::vector<std::byte*>> free_blocks_
      ABSL_GUARDED_BY(mutex_);
  size_t cached_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace tensorops

#endif  // TENSOROPS_CORE_BUFFER_POOL_H_
