// tensorops-load: a load generator for tensorops.v1.TensorOps that reports
// like ghz and, unlike ghz, can chain TopK(save_for_backward) into Backward.
//
//   tensorops-load --address=127.0.0.1:50051 --call=topk --shape=64,32000
//       --k=50 --concurrency=4 --duration=10s [--format=json] [--check]
//   tensorops-load --call=chain --shape=64,32000 --k=50 --total=1000
//   tensorops-load --call=health --concurrency=4 --duration=5s
#include <iostream>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "bench/load/call_plan.h"
#include "bench/load/load_options.h"
#include "bench/load/load_runner.h"
#include "bench/load/load_stats.h"

namespace {

// --help lists only this tool's flags (not gRPC's or Abseil's).
bool IsOurFlagFile(absl::string_view filename) {
  return absl::StrContains(filename, "bench/load/");
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = IsOurFlagFile;
  usage_config.contains_helpshort_flags = IsOurFlagFile;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "Load-tests a tensorops server: tensorops-load --call=topk "
      "--shape=64,32000 --k=50 --concurrency=4 --duration=10s");
  absl::ParseCommandLine(argc, argv);
  using namespace tensorops::load;
  absl::StatusOr<LoadOptions> options = LoadOptionsFromFlags();
  if (!options.ok()) {
    std::cerr << "tensorops-load: " << options.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<CallPlan> plan = CallPlan::Create(*options);
  if (!plan.ok()) {
    std::cerr << "tensorops-load: " << plan.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<LoadResult> result = RunLoad(*options, *plan);
  if (!result.ok()) {
    std::cerr << "tensorops-load: " << result.status().message() << "\n";
    return 1;
  }
  RunInfo info{.call = CallKindName(options->call),
               .address = options->address,
               .concurrency = options->concurrency,
               .connections = options->connections,
               .rps = options->rps,
               .request_bytes = plan->request_bytes(),
               .total_time = result->total_time};
  // Exit status 1 when any unit failed, so scripts notice.
  const auto& codes = result->stats.status_counts;
  const int exit_code = codes.size() == 1 && codes.count("OK") ? 0 : 1;
  if (options->format == "json") {
    std::cout << FormatJson(info, std::move(result->stats));
  } else {
    std::cout << FormatSummary(info, std::move(result->stats));
  }
  return exit_code;
}
