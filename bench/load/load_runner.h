// Drives the load: `concurrency` slots, each keeping one unit (a call, or a
// TopK -> Backward chain) in flight with gRPC's callback API. A slot starts
// its next unit from the completion callback, so no thread waits per call;
// with --rps, a grpc::Alarm delays the start to its scheduled time.
#ifndef TENSOROPS_BENCH_LOAD_LOAD_RUNNER_H_
#define TENSOROPS_BENCH_LOAD_LOAD_RUNNER_H_

#include "absl/status/statusor.h"
#include "bench/load/call_plan.h"
#include "bench/load/load_options.h"
#include "bench/load/load_stats.h"

namespace tensorops::load {

struct LoadResult {
  LoadStats stats;
  absl::Duration total_time;
};

// Runs until options.total units have completed, options.duration has
// passed, or options.max_run_time has passed, whichever comes first.
absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options,
                                   const CallPlan& plan);

}  // namespace tensorops::load

#endif  // TENSOROPS_BENCH_LOAD_LOAD_RUNNER_H_
