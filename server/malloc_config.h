// glibc malloc settings for serving large messages.
#ifndef TENSOROPS_SERVER_MALLOC_CONFIG_H_
#define TENSOROPS_SERVER_MALLOC_CONFIG_H_

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

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_MALLOC_CONFIG_H_
