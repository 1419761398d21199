#include "server/malloc_config.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

// clang spells "built with a sanitizer" through __has_feature.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TENSOROPS_HAS_SANITIZER_FEATURE 1
#endif
#endif
#ifndef TENSOROPS_HAS_SANITIZER_FEATURE
#define TENSOROPS_HAS_SANITIZER_FEATURE 0
#endif

namespace tensorops::server {

void ConfigureMalloc() {
#if defined(__GLIBC__)
  const char* defaults = std::getenv("TENSOROPS_MALLOC_DEFAULTS");
  if (defaults != nullptr && std::strcmp(defaults, "1") == 0) return;
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_ARENA_MAX, 1);
#endif
}

HeapUsage ReadHeapUsage() {
  HeapUsage usage;
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__) && !TENSOROPS_HAS_SANITIZER_FEATURE
  const struct mallinfo2 info = mallinfo2();
  usage.in_use_bytes = static_cast<int64_t>(info.uordblks + info.hblkhd);
  usage.free_bytes = static_cast<int64_t>(info.fordblks);
#endif
  return usage;
}

}  // namespace tensorops::server
