// glibc malloc settings for serving large messages.
#ifndef TENSOROPS_SERVER_MALLOC_CONFIG_H_
#define TENSOROPS_SERVER_MALLOC_CONFIG_H_

#include <cstdint>

namespace tensorops::server {

// Call first thing in main, before threads start. gRPC receives a large
// message into thousands of 64 KiB blocks; with glibc's defaults the freed
// blocks are trimmed back to the kernel after each call and the next one
// page-faults fresh memory (about 12 us per 4 KiB page on small VMs), which
// made receiving 131 MB take 2-8x as long as with warm memory. Measured on
// 2 vCPUs, TopK of float32 [1024,32000] end to end (p50 over runs): glibc
// defaults 76-358 ms, jemalloc 127-155 ms, these settings 50-73 ms (page
// faults per call: 2,000-4,900, about 2,850, and 0).
// - M_TRIM_THRESHOLD: keep up to 1 GiB of freed heap for reuse;
// - M_MMAP_THRESHOLD at its maximum (32 MiB): blocks below it come from the
//   reusable heap rather than fresh mappings (tensor buffers above it are
//   pooled by BufferPool);
// - M_ARENA_MAX 1: every thread reuses the same freed blocks (blocks freed by
//   a compute thread were otherwise stranded in its own arena).
// No effect under the sanitizers, which replace malloc. The environment
// variable TENSOROPS_MALLOC_DEFAULTS=1 keeps glibc's defaults instead, so
// that resident memory tracks live memory (the soak test's leak check).
void ConfigureMalloc();

// What malloc holds, from glibc's mallinfo2(): bytes in blocks the program
// has allocated and not freed (heap and mmapped chunks), and bytes malloc
// keeps free for reuse. A leak grows the first; fragmentation and the
// settings above grow the second, which resident memory also counts. Both
// -1 where unknown (not glibc, or under a sanitizer's allocator, which
// glibc's counters do not see). Walks every arena: for scrapes, not hot
// paths.
struct HeapUsage {
  int64_t in_use_bytes = -1;
  int64_t free_bytes = -1;
};
HeapUsage ReadHeapUsage();

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_MALLOC_CONFIG_H_
