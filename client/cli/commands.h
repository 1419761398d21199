// The subcommands of the `tensorops` tool.
#ifndef TENSOROPS_CLIENT_CLI_COMMANDS_H_
#define TENSOROPS_CLIENT_CLI_COMMANDS_H_

#include <optional>
#include <ostream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "client/cli/args.h"
#include "client/cli/cli_errors.h"
#include "client/cli/tensor_io.h"
#include "client/tensor_ops_client.h"
#include "core/dtype.h"

namespace tensorops::client {

struct CommandContext {
  const ParsedArgs& args;  // positional[0] is the command name
  const OutputFormat& output;
  // --dtype: the dtype of literal tensors (inferred when unset).
  std::optional<DType> dtype;
  // Null for commands that do not talk to a server.
  TensorOpsClient* client;
  std::ostream& out;
};

struct Command {
  absl::string_view name;
  absl::string_view synopsis;  // arguments and options, for --help
  absl::string_view summary;
  std::vector<OptionSpec> options;  // besides the global ones
  size_t arguments;                 // positional arguments it takes
  bool needs_server;
  absl::Status (*run)(const CommandContext& context);
};

absl::Span<const Command> AllCommands();

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_CLI_COMMANDS_H_
