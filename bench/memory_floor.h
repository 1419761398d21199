// The memory floor of a case: one pass over its bytes at the same thread
// count (reading topk's and the selection ops' input, writing the output of
// topk_backward and the fills), timed beside both sides so that every row
// says how close it is to what this machine's memory allows.
#ifndef TENSOROPS_BENCH_MEMORY_FLOOR_H_
#define TENSOROPS_BENCH_MEMORY_FLOOR_H_

#include <tbb/task_arena.h>

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace tensorops::bench {

// Reads every whole 8-byte word of `bytes` on the arena's
// threads, in 1 MiB pieces; returns their sum so the reads cannot be elided.
uint64_t ReadPass(absl::Span<const std::byte> bytes, tbb::task_arena& arena);

// Writes zeros over `bytes` on the arena's threads, in 1 MiB pieces.
void WritePass(absl::Span<std::byte> bytes, tbb::task_arena& arena);

}  // namespace tensorops::bench

#endif  // TENSOROPS_BENCH_MEMORY_FLOOR_H_
