#include "core/buffer_pool.h"

#include <sys/mman.h>

#include <bit>
#include <cstdlib>
#include <new>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tensorops {
namespace {

constexpr size_t kHugePageBytes = size_t{2} << 20;

// Rounds up to one of four steps per power of two (x1, x1.25, x1.5, x1.75), so
// that a pooled block wastes at most a quarter of its size.
size_t SizeClass(size_t bytes) {
  const size_t pow2 = std::bit_floor(bytes);
  if (pow2 < 16) return std::bit_ceil(bytes);
  const size_t step = pow2 / 4;
  return (bytes + step - 1) / step * step;
}

size_t AlignmentFor(size_t bytes) {
  return bytes >= kHugePageBytes ? kHugePageBytes : BufferPool::kAlignment;
}

std::byte* AllocateAligned(size_t bytes) {
  const size_t alignment = AlignmentFor(bytes);
  const size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  void* block =
      std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
  if (block != nullptr && rounded >= kHugePageBytes) {
    // Advisory: fewer, larger page faults. Failure only costs speed.
    madvise(block, rounded, MADV_HUGEPAGE);
  }
  return static_cast<std::byte*>(block);
}

}  // namespace

BufferPool::BufferPool(Options options) : options_(options) {}

BufferPool::~BufferPool() { Trim(); }

BufferPool& BufferPool::Default() {
  static BufferPool* const pool = new BufferPool(Options{});
  return *pool;
}

absl::StatusOr<std::shared_ptr<std::byte>> BufferPool::Allocate(size_t bytes) {
  if (bytes < options_.min_pooled_bytes) {
    std::byte* block = AllocateAligned(bytes);
    if (block == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate ", bytes, " bytes for a tensor"));
    }
    return std::shared_ptr<std::byte>(block,
                                      [](std::byte* b) { std::free(b); });
  }
  const size_t size_class = SizeClass(bytes);
  std::byte* block = nullptr;
  {
    absl::MutexLock lock(&mutex_);
    auto it = free_blocks_.find(size_class);
    if (it != free_blocks_.end() && !it->second.empty()) {
      block = it->second.back();
      it->second.pop_back();
      cached_bytes_ -= size_class;
    }
  }
  if (block == nullptr) block = AllocateAligned(size_class);
  if (block == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes for a tensor"));
  }
  return std::shared_ptr<std::byte>(
      block, [this, size_class](std::byte* b) { Release(b, size_class); });
}

void BufferPool::Release(std::byte* block, size_t size_class) {
  {
    absl::MutexLock lock(&mutex_);
    if (cached_bytes_ + size_class <= options_.max_cached_bytes) {
      free_blocks_[size_class].push_back(block);
      cached_bytes_ += size_class;
      return;
    }
  }
  std::free(block);
}

size_t BufferPool::cached_bytes() const {
  absl::MutexLock lock(&mutex_);
  return cached_bytes_;
}

void BufferPool::Trim() {
  std::map<size_t, std::vector<std::byte*>> blocks;
  {
    absl::MutexLock lock(&mutex_);
    blocks.swap(free_blocks_);
    cached_bytes_ = 0;
  }
  for (auto& [size_class, list] : blocks) {
    for (std::byte* block : list) std::free(block);
  }
}

}  // namespace tensorops
