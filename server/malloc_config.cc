#include "server/malloc_config.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

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

}  // namespace tensorops::server
