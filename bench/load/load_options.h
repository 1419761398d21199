// What tensorops-load sends, how hard, and for how long.
#ifndef TENSOROPS_BENCH_LOAD_LOAD_OPTIONS_H_
#define TENSOROPS_BENCH_LOAD_LOAD_OPTIONS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace tensorops::load {

// One unit of work, counted as one "request" in the report.
enum class CallKind {
  kZerosLike,
  kOnesLike,
  kTopK,
  kBackward,  // stateless form: indices and input shape in the request
  kChain,     // TopK(save_for_backward) then Backward on its session
  kHealth,    // grpc.health.v1.Health/Check, the ceiling for tiny calls
  kEcho,      // TopK's request bytes to --echo_method (bench/echo)
};

absl::StatusOr<CallKind> CallKindFromName(const std::string& name);
std::string CallKindName(CallKind kind);

struct LoadOptions {
  std::string address = "127.0.0.1:50051";
  CallKind call = CallKind::kTopK;
  std::string echo_method = "/tensorops.bench.Echo/Echo";

  // Calls in flight at once, spread over `connections` HTTP/2 connections.
  int concurrency = 4;
  int connections = 1;
  // Stop after `total` units or after `duration`, whichever comes first;
  // 0 means no limit of that kind (but not both: then total is 200).
  int64_t total = 0;
  absl::Duration duration = absl::ZeroDuration();
  // Units run (unrecorded) before the measured ones, on the same
  // connections.
  int64_t warmup = 0;
  // Units started per second over all workers; 0 means as fast as possible.
  double rps = 0;
  absl::Duration timeout = absl::Seconds(20);
  // Hard cap on the whole run whatever the other limits say.
  absl::Duration max_run_time = absl::Minutes(10);

  DType dtype = DType::kFloat32;
  Shape shape = {2, 3};
  int64_t k = 1;
  uint64_t seed = 1;

  // Compare every response with the result computed locally.
  bool check = false;
  // Extra gRPC channel arguments (e.g. grpc.http2.lookahead_bytes=...).
  std::vector<std::pair<std::string, std::string>> channel_args;
  // "summary" or "json".
  std::string format = "summary";
};

// Reads the command-line flags (after absl::ParseCommandLine).
absl::StatusOr<LoadOptions> LoadOptionsFromFlags();

}  // namespace tensorops::load

#endif  // TENSOROPS_BENCH_LOAD_LOAD_OPTIONS_H_
