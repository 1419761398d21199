// A small command-line parser for `tensorops <command> [args] [--options]`:
// "--name=value", "--name value" and boolean "--name"; "--" ends the
// options (so a positional argument may start with "--").
#ifndef TENSOROPS_CLIENT_CLI_ARGS_H_
#define TENSOROPS_CLIENT_CLI_ARGS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tensorops::client {

struct OptionSpec {
  absl::string_view name;  // without the leading "--"
  bool takes_value;        // false: a boolean flag
};

class ParsedArgs {
 public:
  std::vector<std::string> positional;

  bool Has(absl::string_view name) const { return options_.contains(name); }
  // The option's value; nullopt if it was not given.
  std::optional<std::string> Get(absl::string_view name) const;

 private:
  friend absl::StatusOr<ParsedArgs> ParseArgs(
      absl::Span<const std::string> args, absl::Span<const OptionSpec> specs);
  // Boolean flags map to "".
  absl::flat_hash_map<std::string, std::string> options_;
};

// Parses `args` against `specs`. INVALID_ARGUMENT for an unknown option, a
// missing value, a value given to a boolean flag, or an option given twice.
absl::StatusOr<ParsedArgs> ParseArgs(absl::Span<const std::string> args,
                                     absl::Span<const OptionSpec> specs);

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_CLI_ARGS_H_
