#include "client/cli/commands.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli/tensor_literal.h"
#include "client/shared_memory_region.h"
#include "core/status_macros.h"

namespace tensorops::client {
namespace {

absl::StatusOr<int64_t> IntegerOption(const CommandContext& context,
                                      absl::string_view name,
                                      std::optional<int64_t> default_value) {
  const std::optional<std::string> text = context.args.Get(name);
  if (!text.has_value()) {
    if (default_value.has_value()) return *default_value;
    return UsageError(
        absl::StrCat(context.args.positional[0], " needs --", name));
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(*text, &value)) {
    return UsageError(
        absl::StrCat("--", name, " is '", *text, "'; expected an integer"));
  }
  return value;
}

absl::StatusOr<std::optional<DType>> ResultDType(
    const CommandContext& context) {
  const std::optional<std::string> name = context.args.Get("result-dtype");
  if (!name.has_value()) return std::optional<DType>();
  absl::StatusOr<DType> dtype = ParseDTypeName(*name);
  if (!dtype.ok()) {
    return UsageError(
        absl::StrCat("--result-dtype: ", dtype.status().message()));
  }
  return std::optional<DType>(*dtype);
}

absl::Status RunFill(const CommandContext& context, bool ones) {
  TENSOROPS_ASSIGN_OR_RETURN(
      const Tensor input,
      ReadTensorArgument(context.args.positional[1], context.dtype));
  TENSOROPS_ASSIGN_OR_RETURN(const std::optional<DType> dtype,
                             ResultDType(context));
  TENSOROPS_ASSIGN_OR_RETURN(const Tensor result,
                             ones ? context.client->OnesLike(input, dtype)
                                  : context.client->ZerosLike(input, dtype));
  return WriteTensor(context.output, result, context.out);
}

absl::Status RunZerosLike(const CommandContext& context) {
  return RunFill(context, /*ones=*/false);
}

absl::Status RunOnesLike(const CommandContext& context) {
  return RunFill(context, /*ones=*/true);
}

absl::Status RunTopK(const CommandContext& context) {
  TENSOROPS_ASSIGN_OR_RETURN(
      const Tensor input,
      ReadTensorArgument(context.args.positional[1], context.dtype));
  TopKParams params;
  TENSOROPS_ASSIGN_OR_RETURN(params.k,
                             IntegerOption(context, "k", std::nullopt));
  TENSOROPS_ASSIGN_OR_RETURN(params.dim, IntegerOption(context, "dim", -1));
  params.largest = !context.args.Has("smallest");
  params.sorted = !context.args.Has("unsorted");
  params.save_for_backward = context.args.Has("save");
  if (context.args.Has("shared-memory")) {
    // The input goes to the server, and the results come back, through a
    // region of this process's (a server on this host, with
    // --allow_shared_memory); it is unregistered and removed after.
    TENSOROPS_ASSIGN_OR_RETURN(
        const std::shared_ptr<SharedMemoryRegion> region,
        SharedMemoryRegion::Create(*context.client,
                                   SharedMemoryTopKBytes(input, params)));
    TENSOROPS_ASSIGN_OR_RETURN(
        const TopKOutput result,
        SharedMemoryTopK(*context.client, input, params, region));
    return WriteSelection(context.output, "topk", result, context.out);
  }
  TENSOROPS_ASSIGN_OR_RETURN(const TopKOutput result,
                             context.client->TopK(input, params));
  return WriteSelection(context.output, "topk", result, context.out);
}

// Options shared by kthvalue, max, min and median.
absl::StatusOr<ReductionParams> ReductionOptions(
    const CommandContext& context) {
  ReductionParams params;
  TENSOROPS_ASSIGN_OR_RETURN(params.dim, IntegerOption(context, "dim", -1));
  params.keepdim = context.args.Has("keepdim");
  params.save_for_backward = context.args.Has("save");
  return params;
}

absl::Status RunSort(const CommandContext& context) {
  TENSOROPS_ASSIGN_OR_RETURN(
      const Tensor input,
      ReadTensorArgument(context.args.positional[1], context.dtype));
  SortParams params;
  TENSOROPS_ASSIGN_OR_RETURN(params.dim, IntegerOption(context, "dim", -1));
  params.descending = context.args.Has("descending");
  params.stable = context.args.Has("stable");
  params.save_for_backward = context.args.Has("save");
  TENSOROPS_ASSIGN_OR_RETURN(const SelectionOutput result,
                             context.client->Sort(input, params));
  return WriteSelection(context.output, "sort", result, context.out);
}

absl::Status RunKthValue(const CommandContext& context) {
  TENSOROPS_ASSIGN_OR_RETURN(
      const Tensor input,
      ReadTensorArgument(context.args.positional[1], context.dtype));
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t k,
                             IntegerOption(context, "k", std::nullopt));
  TENSOROPS_ASSIGN_OR_RETURN(const ReductionParams params,
                             ReductionOptions(context));
  TENSOROPS_ASSIGN_OR_RETURN(const SelectionOutput result,
                             context.client->KthValue(input, k, params));
  return WriteSelection(context.output, "kthvalue", result, context.out);
}

// max, min or median: the reductions without arguments of their own.
template <absl::StatusOr<SelectionOutput> (TensorOpsClient::*kCall)(
              const Tensor&, const ReductionParams&, const CallOptions&),
          const char* kName>
absl::Status RunReduction(const CommandContext& context) {
  TENSOROPS_ASSIGN_OR_RETURN(
      const Tensor input,
      ReadTensorArgument(context.args.positional[1], context.dtype));
  TENSOROPS_ASSIGN_OR_RETURN(const ReductionParams params,
                             ReductionOptions(context));
  TENSOROPS_ASSIGN_OR_RETURN(const SelectionOutput result,
                             (context.client->*kCall)(input, params, {}));
  return WriteSelection(context.output, kName, result, context.out);
}
constexpr char kMaxName[] = "max";
constexpr char kMinName[] = "min";
constexpr char kMedianName[] = "median";

absl::Status RunBackward(const CommandContext& context) {
  TENSOROPS_ASSIGN_OR_RETURN(
      const Tensor grad,
      ReadTensorArgument(context.args.positional[1], context.dtype));
  const std::optional<std::string> session = context.args.Get("session");
  const bool stateless =
      context.args.Has("indices") || context.args.Has("input-shape");
  if (session.has_value() == stateless) {
    return UsageError(
        "backward needs either --session=ID or both --indices and "
        "--input-shape");
  }
  if (session.has_value() && context.args.Has("no-keepdim")) {
    return UsageError(
        "--no-keepdim belongs to the stateless form (the session knows "
        "whether its op kept dim)");
  }
  Tensor grad_input;
  if (session.has_value()) {
    if (context.args.Has("dim")) {
      return UsageError(
          "--dim belongs to the stateless form (the session "
          "knows its dim)");
    }
    TENSOROPS_ASSIGN_OR_RETURN(
        grad_input,
        context.client->Backward(*session, grad, context.args.Has("retain")));
  } else {
    const std::optional<std::string> indices_text = context.args.Get("indices");
    const std::optional<std::string> shape_text =
        context.args.Get("input-shape");
    if (!indices_text.has_value() || !shape_text.has_value()) {
      return UsageError(
          "the stateless backward needs both --indices and "
          "--input-shape");
    }
    if (context.args.Has("retain")) {
      return UsageError("--retain needs --session");
    }
    // Indices are int64 whatever --dtype says (it applies to the gradient).
    TENSOROPS_ASSIGN_OR_RETURN(
        const Tensor indices,
        ReadTensorArgument(*indices_text, absl::EndsWith(*indices_text, ".npy")
                                              ? std::nullopt
                                              : std::optional(DType::kInt64)));
    TENSOROPS_ASSIGN_OR_RETURN(const Shape input_shape,
                               ParseShapeLiteral(*shape_text));
    TENSOROPS_ASSIGN_OR_RETURN(const int64_t dim,
                               IntegerOption(context, "dim", -1));
    TENSOROPS_ASSIGN_OR_RETURN(
        grad_input,
        context.client->StatelessBackward(grad, indices, input_shape, dim,
                                          !context.args.Has("no-keepdim")));
  }
  return WriteTensor(context.output, grad_input, context.out);
}

absl::Status RunRelease(const CommandContext& context) {
  return context.client->ReleaseSession(context.args.positional[1]);
}

absl::Status RunHealth(const CommandContext& context) {
  TENSOROPS_ASSIGN_OR_RETURN(
      const ServingStatus status,
      context.client->Health(context.args.Get("service").value_or("")));
  context.out << ServingStatusName(status) << "\n";
  if (status != ServingStatus::kServing) {
    return absl::UnavailableError(
        absl::StrCat("the server is ", ServingStatusName(status)));
  }
  return absl::OkStatus();
}

absl::Status RunInfo(const CommandContext& context) {
  TENSOROPS_ASSIGN_OR_RETURN(const tensorops::v1::GetServerInfoResponse info,
                             context.client->GetServerInfo());
  context.out << "version: " << info.version() << "\n"
              << "backend: " << info.backend() << "\n"
              << "compute_threads: " << info.compute_threads() << "\n"
              << "max_message_bytes: " << info.max_message_bytes() << "\n"
              << "session_ttl_ms: " << info.session_ttl_ms() << "\n"
              << "session_cache_bytes: " << info.session_cache_bytes() << "\n"
              << "session_count: " << info.session_count() << "\n"
              << "session_bytes: " << info.session_bytes() << "\n"
              << "max_tensor_elements: " << info.max_tensor_elements() << "\n"
              << "max_inflight_requests: " << info.max_inflight_requests()
              << "\n"
              << "max_sessions_per_caller: " << info.max_sessions_per_caller()
              << "\n"
              << "caller_session_count: " << info.caller_session_count()
              << "\n";
  return absl::OkStatus();
}

absl::Status RunPrint(const CommandContext& context) {
  TENSOROPS_ASSIGN_OR_RETURN(
      const Tensor tensor,
      ReadTensorArgument(context.args.positional[1], context.dtype));
  return WriteTensor(context.output, tensor, context.out);
}

}  // namespace

absl::Span<const Command> AllCommands() {
  static const auto* const kCommands = new std::vector<Command>{
      {"zeros-like",
       "TENSOR [--result-dtype=D]",
       "torch.zeros_like(TENSOR, dtype=D)",
       {{"result-dtype", true}},
       1,
       true,
       RunZerosLike},
      {"ones-like",
       "TENSOR [--result-dtype=D]",
       "torch.ones_like(TENSOR, dtype=D)",
       {{"result-dtype", true}},
       1,
       true,
       RunOnesLike},
      {"topk",
       "TENSOR --k=K [--dim=-1] [--smallest] [--unsorted] [--save] "
       "[--shared-memory]",
       "torch.topk(TENSOR, K, dim, largest, sorted); --save keeps a session "
       "for backward and prints its id; --shared-memory passes the tensors "
       "through a shared memory region (a server on this host with "
       "--allow_shared_memory)",
       {{"k", true},
        {"dim", true},
        {"smallest", false},
        {"unsorted", false},
        {"save", false},
        {"shared-memory", false}},
       1,
       true,
       RunTopK},
      {"sort",
       "TENSOR [--dim=-1] [--descending] [--stable] [--save]",
       "torch.sort(TENSOR, dim, descending, stable) (always stable)",
       {{"dim", true},
        {"descending", false},
        {"stable", false},
        {"save", false}},
       1,
       true,
       RunSort},
      {"kthvalue",
       "TENSOR --k=K [--dim=-1] [--keepdim] [--save]",
       "torch.kthvalue(TENSOR, K, dim, keepdim): the K-th smallest",
       {{"k", true}, {"dim", true}, {"keepdim", false}, {"save", false}},
       1,
       true,
       RunKthValue},
      {"max",
       "TENSOR [--dim=-1] [--keepdim] [--save]",
       "torch.max(TENSOR, dim, keepdim), values and indices",
       {{"dim", true}, {"keepdim", false}, {"save", false}},
       1,
       true,
       RunReduction<&TensorOpsClient::Max, kMaxName>},
      {"min",
       "TENSOR [--dim=-1] [--keepdim] [--save]",
       "torch.min(TENSOR, dim, keepdim), values and indices",
       {{"dim", true}, {"keepdim", false}, {"save", false}},
       1,
       true,
       RunReduction<&TensorOpsClient::Min, kMinName>},
      {"median",
       "TENSOR [--dim=-1] [--keepdim] [--save]",
       "torch.median(TENSOR, dim, keepdim): the lower middle value",
       {{"dim", true}, {"keepdim", false}, {"save", false}},
       1,
       true,
       RunReduction<&TensorOpsClient::Median, kMedianName>},
      {"backward",
       "GRAD (--session=ID [--retain] | --indices=I --input-shape=S "
       "[--dim=-1] [--no-keepdim])",
       "gradient of the input of topk, sort, kthvalue, max, min or median "
       "from GRAD (the gradient of its values), with a saved session or "
       "stateless (--no-keepdim: GRAD and I lack dim)",
       {{"session", true},
        {"retain", false},
        {"indices", true},
        {"input-shape", true},
        {"dim", true},
        {"no-keepdim", false}},
       1,
       true,
       RunBackward},
      {"release",
       "SESSION_ID",
       "frees a session saved by a --save",
       {},
       1,
       true,
       RunRelease},
      {"health",
       "[--service=NAME]",
       "grpc.health.v1 check; exits 0 only when SERVING",
       {{"service", true}},
       0,
       true,
       RunHealth},
      {"info",
       "",
       "the server's version, backend and limits",
       {},
       0,
       true,
       RunInfo},
      {"print",
       "TENSOR",
       "prints a tensor (literal or .npy) locally, without a server",
       {},
       1,
       false,
       RunPrint},
  };
  return *kCommands;
}

}  // namespace tensorops::client
