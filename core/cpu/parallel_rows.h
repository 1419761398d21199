// tbb::parallel_for over [0, n) that runs a single chunk inline.
#ifndef TENSOROPS_CORE_CPU_PARALLEL_ROWS_H_
#define TENSOROPS_CORE_CPU_PARALLEL_ROWS_H_

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <cstdint>

namespace tensorops::cpu {

// Calls body(range) over chunks of [0, n) of at least `grain` items, in
// parallel. When all of it is one chunk the body runs on the calling thread:
// a parallel_for would still wake the arena's workers, which costs more
// (tens of microseconds) than a tiny kernel.
template <typename Body>
void ParallelForRanges(int64_t n, int64_t grain, const Body& body) {
  if (n <= grain) {
    if (n > 0) body(tbb::blocked_range<int64_t>(0, n));
    return;
  }
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, grain), body);
}

}  // namespace tensorops::cpu

#endif  // TENSOROPS_CORE_CPU_PARALLEL_ROWS_H_
