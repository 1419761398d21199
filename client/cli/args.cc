#include "client/cli/args.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tensorops::client {

std::optional<std::string> ParsedArgs::Get(absl::string_view name) const {
  auto it = options_.find(name);
  if (it == options_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<ParsedArgs> ParseArgs(absl::Span<const std::string> args,
                                     absl::Span<const OptionSpec> specs) {
  ParsedArgs parsed;
  bool options_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_ended || !absl::StartsWith(arg, "--")) {
      parsed.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_ended = true;
      continue;
    }
    const size_t equals = arg.find('=');
    const std::string name = arg.substr(
        2, equals == std::string::npos ? std::string::npos : equals - 2);
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& candidate : specs) {
      if (candidate.name == name) spec = &candidate;
    }
    if (spec == nullptr) {
      std::vector<std::string> known;
      for (const OptionSpec& candidate : specs) {
        known.push_back(absl::StrCat("--", candidate.name));
      }
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option --", name, "; expected one of ",
                       absl::StrJoin(known, ", ")));
    }
    std::string value;
    if (spec->takes_value) {
      if (equals != std::string::npos) {
        value = arg.substr(equals + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("option --", name, " needs a value"));
      }
    } else if (equals != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("option --", name, " takes no value"));
    }
    if (!parsed.options_.emplace(name, std::move(value)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("option --", name, " is given twice"));
    }
  }
  return parsed;
}

}  // namespace tensorops::client
