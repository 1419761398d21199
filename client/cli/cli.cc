#include "client/cli/cli.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/cli/args.h"
#include "client/cli/commands.h"
#include "client/cli/tensor_io.h"
#include "client/tensor_ops_client.h"
#include "core/status_macros.h"

namespace tensorops::client {
namespace {

// Options every command accepts, before or after the command name.
const std::vector<OptionSpec>& GlobalOptions() {
  static const auto* const kOptions = new std::vector<OptionSpec>{
      {"address", true},          {"timeout", true},
      {"output", true},           {"dtype", true},
      {"affinity-key", true},     {"tls", false},
      {"tls-ca", true},           {"tls-cert", true},
      {"tls-key", true},          {"tls-server-name", true},
      {"auth-token-file", true},  {"help", false},
      {"stream-threshold", true},
  };
  return *kOptions;
}

constexpr absl::string_view kGlobalHelp =
    "Options for every command:\n"
    "  --address=HOST:PORT  server address (default $TENSOROPS_ADDRESS, else\n"
    "                       127.0.0.1:50051)\n"
    "  --timeout=DURATION   deadline per call, e.g. 10s, 500ms or 2.5 "
    "(seconds; default 30s)\n"
    "  --output=FORMAT      torch (PyTorch's print format, the default), "
    "json,\n"
    "                       or npy:PATH (topk: npy:VALUES.npy,INDICES.npy)\n"
    "  --dtype=D            dtype of literal tensors (default: inferred like\n"
    "                       torch.tensor: int64, float32 or bool)\n"
    "  --affinity-key=KEY   sent as x-tensorops-affinity metadata, so a load\n"
    "                       balancer routes a topk --save and its backward to\n"
    "                       the same replica\n"
    "  --tls                use TLS, verifying the server with the system's "
    "CAs\n"
    "  --tls-ca=PEM         use TLS, verifying the server with these CAs\n"
    "  --tls-cert=PEM --tls-key=PEM\n"
    "                       client certificate and key (mutual TLS; implies "
    "TLS)\n"
    "  --tls-server-name=N  name the server's certificate must carry (default:"
    "\n"
    "                       the address's host)\n"
    "  --auth-token-file=F  send the bearer token in F (first line); or set\n"
    "                       TENSOROPS_AUTH_TOKEN (a flag value would show in "
    "ps)\n"
    "  --stream-threshold=BYTES\n"
    "                       calls whose tensors (in or out) are larger stream\n"
    "                       them in chunks (default 268435456, 256 MiB; no\n"
    "                       2 GiB limit); .npy inputs are mapped, not read\n"
    "\n"
    "TENSOR is a nested list such as '[[1, 2], [3, 4]]', a .npy file, or -\n"
    "for standard input (a list's text or a .npy file's bytes).\n"
    "dtypes: float32 float64 float16 bfloat16 int8 int16 int32 int64 uint8 "
    "bool\n";

std::string Usage() {
  std::string usage =
      "Usage: tensorops [--address=HOST:PORT] COMMAND [ARGS] [OPTIONS]\n"
      "\nCommands:\n";
  for (const Command& command : AllCommands()) {
    absl::StrAppend(&usage, "  ", command.name,
                    command.synopsis.empty() ? "" : " ", command.synopsis,
                    "\n      ", command.summary, "\n");
  }
  absl::StrAppend(&usage, "\n", kGlobalHelp);
  return usage;
}

// The command name: the first argument that is neither an option nor the
// value of a global option written as "--name value".
std::optional<std::string> FindCommandName(absl::Span<const std::string> args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--")
      return i + 1 < args.size() ? std::optional(args[i + 1]) : std::nullopt;
    if (!absl::StartsWith(arg, "--")) return arg;
    if (arg.find('=') != std::string::npos) continue;
    for (const OptionSpec& spec : GlobalOptions()) {
      if (spec.takes_value && arg.substr(2) == spec.name) ++i;
    }
  }
  return std::nullopt;
}

absl::StatusOr<absl::Duration> ParseTimeout(absl::string_view text) {
  absl::Duration timeout;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) {
    timeout = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &timeout)) {
    timeout = absl::ZeroDuration();
  }
  if (timeout <= absl::ZeroDuration()) {
    return UsageError(absl::StrCat("--timeout is '", text,
                                   "'; expected a positive duration such as "
                                   "10s, 500ms or 2.5"));
  }
  return timeout;
}

// TLS from --tls, --tls-ca, --tls-cert, --tls-key and --tls-server-name;
// nullopt (plaintext) when none is given.
absl::StatusOr<std::optional<TlsOptions>> TlsFromArgs(const ParsedArgs& args) {
  const std::string ca = args.Get("tls-ca").value_or("");
  const std::string cert = args.Get("tls-cert").value_or("");
  const std::string key = args.Get("tls-key").value_or("");
  const std::string name = args.Get("tls-server-name").value_or("");
  if (!args.Has("tls") && ca.empty() && cert.empty() && key.empty() &&
      name.empty()) {
    return std::nullopt;
  }
  absl::StatusOr<TlsOptions> tls = TlsOptionsFromFiles(ca, cert, key, name);
  if (!tls.ok()) return UsageError(tls.status().message());
  return *std::move(tls);
}

// The bearer token from --auth-token-file or $TENSOROPS_AUTH_TOKEN.
absl::StatusOr<std::optional<std::string>> AuthTokenFromArgs(
    const ParsedArgs& args) {
  if (std::optional<std::string> path = args.Get("auth-token-file")) {
    std::ifstream file(*path);
    std::string token;
    if (!file || !std::getline(file, token) ||
        absl::StripAsciiWhitespace(token).empty()) {
      return UsageError(absl::StrCat("--auth-token-file ", *path,
                                     ": cannot read a token from its first "
                                     "line"));
    }
    return std::string(absl::StripAsciiWhitespace(token));
  }
  if (const char* env = std::getenv("TENSOROPS_AUTH_TOKEN");
      env != nullptr && *env != '\0') {
    return std::string(env);
  }
  return std::nullopt;
}

// Whether `address` names a port (or is a unix socket): without one gRPC
// would quietly try port 443.
bool NamesAPort(absl::string_view address) {
  if (absl::StartsWith(address, "unix:") ||
      absl::StartsWith(address, "unix-abstract:")) {
    return true;
  }
  // A scheme's authority and path ("dns:///host:port") end in host:port.
  if (const size_t slash = address.rfind('/');
      slash != absl::string_view::npos) {
    address.remove_prefix(slash + 1);
  }
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon + 1 == address.size()) {
    return false;
  }
  const absl::string_view port = address.substr(colon + 1);
  return std::all_of(port.begin(), port.end(), absl::ascii_isdigit);
}

// The server's address: --address, else $TENSOROPS_ADDRESS when set and not
// empty, else the default. A usage error if it names no port.
absl::StatusOr<std::string> AddressFromArgs(const ParsedArgs& args) {
  std::string address;
  absl::string_view source = "--address";
  if (std::optional<std::string> flag = args.Get("address")) {
    address = *std::move(flag);
  } else if (const char* env = std::getenv("TENSOROPS_ADDRESS");
             env != nullptr && *env != '\0') {
    address = env;
    source = "TENSOROPS_ADDRESS";
  } else {
    return std::string(kDefaultAddress);
  }
  if (!NamesAPort(address)) {
    return UsageError(absl::StrCat(
        source, " is '", address,
        "', which names no port; expected HOST:PORT (e.g. 127.0.0.1:50051) "
        "or unix:PATH"));
  }
  return address;
}

absl::Status Run(absl::Span<const std::string> args, std::ostream& out) {
  const std::optional<std::string> name = FindCommandName(args);
  if (!name.has_value()) {
    if (std::find(args.begin(), args.end(), "--help") != args.end()) {
      out << Usage();
      return absl::OkStatus();
    }
    return UsageError("no command given");
  }
  const Command* command = nullptr;
  for (const Command& candidate : AllCommands()) {
    if (candidate.name == *name) command = &candidate;
  }
  if (command == nullptr) {
    return UsageError(absl::StrCat("unknown command '", *name, "'"));
  }
  std::vector<OptionSpec> specs = GlobalOptions();
  specs.insert(specs.end(), command->options.begin(), command->options.end());
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(args, specs);
  if (!parsed.ok()) return UsageError(parsed.status().message());
  if (parsed->Has("help")) {
    out << "Usage: tensorops " << command->name << " " << command->synopsis
        << "\n  " << command->summary << "\n\n"
        << kGlobalHelp;
    return absl::OkStatus();
  }
  if (parsed->positional.size() != 1 + command->arguments) {
    return UsageError(absl::StrCat("usage: tensorops ", command->name, " ",
                                   command->synopsis));
  }

  OutputFormat output;
  if (std::optional<std::string> text = parsed->Get("output")) {
    absl::StatusOr<OutputFormat> format = ParseOutputFormat(*text);
    if (!format.ok()) return UsageError(format.status().message());
    output = *std::move(format);
  }
  std::optional<DType> dtype;
  if (std::optional<std::string> text = parsed->Get("dtype")) {
    absl::StatusOr<DType> parsed_dtype = ParseDTypeName(*text);
    if (!parsed_dtype.ok()) return UsageError(parsed_dtype.status().message());
    dtype = *parsed_dtype;
  }
  ClientOptions client_options;
  client_options.affinity_key = parsed->Get("affinity-key");
  TENSOROPS_ASSIGN_OR_RETURN(client_options.tls, TlsFromArgs(*parsed));
  TENSOROPS_ASSIGN_OR_RETURN(client_options.auth_token,
                             AuthTokenFromArgs(*parsed));
  if (std::optional<std::string> text = parsed->Get("timeout")) {
    TENSOROPS_ASSIGN_OR_RETURN(client_options.default_timeout,
                               ParseTimeout(*text));
  }
  if (std::optional<std::string> text = parsed->Get("stream-threshold")) {
    if (!absl::SimpleAtoi(*text, &client_options.stream_threshold_bytes) ||
        client_options.stream_threshold_bytes < 0) {
      return UsageError(absl::StrCat("--stream-threshold is '", *text,
                                     "'; expected a number of bytes >= 0"));
    }
  }
  std::unique_ptr<TensorOpsClient> client;
  if (command->needs_server) {
    TENSOROPS_ASSIGN_OR_RETURN(const std::string address,
                               AddressFromArgs(*parsed));
    client = TensorOpsClient::Connect(address, client_options);
  }
  const CommandContext context{*parsed, output, dtype, client.get(), out};
  return command->run(context);
}

}  // namespace

int RunCli(absl::Span<const std::string> args, std::ostream& out,
           std::ostream& err) {
  const absl::Status status = Run(args, out);
  out.flush();
  if (status.ok()) return 0;
  if (IsLocalFileError(status)) {
    err << "tensorops: " << status.message() << "\n";
    return 1;
  }
  err << "tensorops: " << absl::StatusCodeToString(status.code()) << ": "
      << status.message() << "\n";
  if (IsUsageError(status)) {
    err << "(see tensorops --help)\n";
    return 2;
  }
  return 1;
}

}  // namespace tensorops::client
