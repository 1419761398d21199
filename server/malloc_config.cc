#include "server/malloc_config.h"

#include <malloc.h>

namespace tensorops::server {

void ConfigureMalloc() {
#if defined(__GLIBC__)
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_ARENA_MAX, 1);
#endif
}

}  // namespace tensorops::server
