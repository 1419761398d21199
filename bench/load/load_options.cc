#include "bench/load/load_options.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

ABSL_FLAG(std::string, address, "127.0.0.1:50051", "Server host:port.");
ABSL_FLAG(std::string, call, "topk",
          "zeros_like, ones_like, topk, backward (stateless), chain "
          "(topk with save_for_backward, then backward on its session), "
          "health (grpc.health.v1.Health/Check) or echo (topk's request "
          "bytes sent to --echo_method).");
ABSL_FLAG(std::string, echo_method, "/tensorops.bench.Echo/Echo",
          "Full method path for --call=echo.");
ABSL_FLAG(int32_t, concurrency, 4, "Calls in flight at once.");
ABSL_FLAG(int32_t, connections, 1, "HTTP/2 connections (channels).");
ABSL_FLAG(int64_t, total, 0,
          "Calls (chains for --call=chain) to make; 0: until --duration.");
ABSL_FLAG(absl::Duration, duration, absl::ZeroDuration(),
          "How long to run; 0: until --total (200 if both are 0).");
ABSL_FLAG(int64_t, warmup, 0,
          "Calls (chains) run before the measured ones and not recorded.");
ABSL_FLAG(double, rps, 0, "Calls started per second; 0: no limit.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(20), "Deadline per call.");
ABSL_FLAG(absl::Duration, max_run_time, absl::Minutes(10),
          "Hard cap on the whole run.");
ABSL_FLAG(std::string, dtype, "float32", "Input dtype (float32, int64, ...).");
ABSL_FLAG(std::string, shape, "2,3", "Input shape, comma-separated.");
ABSL_FLAG(int64_t, k, 1, "TopK's k (along the last dimension).");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the random input.");
ABSL_FLAG(bool, check, false,
          "Check every response against the result computed locally.");
ABSL_FLAG(std::vector<std::string>, channel_arg, {},
          "Extra channel arguments, key=value, comma-separated; integer "
          "values are passed as integers.");
ABSL_FLAG(std::string, format, "summary", "summary or json.");

namespace tensorops::load {
namespace {

struct NamedKind {
  const char* name;
  CallKind kind;
};
constexpr NamedKind kKinds[] = {
    {"zeros_like", CallKind::kZerosLike},
    {"ones_like", CallKind::kOnesLike},
    {"topk", CallKind::kTopK},
    {"backward", CallKind::kBackward},
    {"chain", CallKind::kChain},
    {"health", CallKind::kHealth},
    {"echo", CallKind::kEcho},
};

absl::StatusOr<Shape> ParseShape(const std::string& text) {
  Shape shape;
  if (text.empty()) return shape;  // 0-d
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t dim;
    if (!absl::SimpleAtoi(part, &dim) || dim < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--shape: bad dimension '", part, "'"));
    }
    shape.push_back(dim);
  }
  return shape;
}

}  // namespace

absl::StatusOr<CallKind> CallKindFromName(const std::string& name) {
  for (const NamedKind& named : kKinds) {
    if (name == named.name) return named.kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--call: unknown '", name, "'"));
}

std::string CallKindName(CallKind kind) {
  for (const NamedKind& named : kKinds) {
    if (kind == named.kind) return named.name;
  }
  return "?";
}

absl::StatusOr<LoadOptions> LoadOptionsFromFlags() {
  LoadOptions options;
  options.address = absl::GetFlag(FLAGS_address);
  auto kind = CallKindFromName(absl::GetFlag(FLAGS_call));
  if (!kind.ok()) return kind.status();
  options.call = *kind;
  options.echo_method = absl::GetFlag(FLAGS_echo_method);
  options.concurrency = absl::GetFlag(FLAGS_concurrency);
  options.connections = absl::GetFlag(FLAGS_connections);
  options.total = absl::GetFlag(FLAGS_total);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.rps = absl::GetFlag(FLAGS_rps);
  options.warmup = absl::GetFlag(FLAGS_warmup);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.max_run_time = absl::GetFlag(FLAGS_max_run_time);
  if (options.concurrency < 1 || options.connections < 1 || options.total < 0 ||
      options.warmup < 0 || options.duration < absl::ZeroDuration() ||
      options.rps < 0 || options.timeout <= absl::ZeroDuration() ||
      options.max_run_time <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--concurrency and --connections must be >= 1, --timeout and "
        "--max_run_time > 0, --total, --warmup, --duration and --rps >= 0");
  }
  if (options.total == 0 && options.duration == absl::ZeroDuration()) {
    options.total = 200;
  }
  std::optional<DType> dtype = DTypeFromName(absl::GetFlag(FLAGS_dtype));
  if (!dtype.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dtype: unknown '", absl::GetFlag(FLAGS_dtype), "'"));
  }
  options.dtype = *dtype;
  auto shape = ParseShape(absl::GetFlag(FLAGS_shape));
  if (!shape.ok()) return shape.status();
  options.shape = *std::move(shape);
  options.k = absl::GetFlag(FLAGS_k);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.check = absl::GetFlag(FLAGS_check);
  for (const std::string& arg : absl::GetFlag(FLAGS_channel_arg)) {
    std::vector<std::string> kv = absl::StrSplit(arg, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--channel_arg: expected key=value, got '", arg, "'"));
    }
    options.channel_args.emplace_back(kv[0], kv[1]);
  }
  options.format = absl::GetFlag(FLAGS_format);
  if (options.format != "summary" && options.format != "json") {
    return absl::InvalidArgumentError("--format: summary or json");
  }
  return options;
}

}  // namespace tensorops::load
