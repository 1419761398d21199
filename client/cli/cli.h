// The `tensorops` command-line tool, callable in-process (main() and the
// tests both use it).
#ifndef TENSOROPS_CLIENT_CLI_CLI_H_
#define TENSOROPS_CLIENT_CLI_CLI_H_

#include <ostream>
#include <string>

#include "absl/types/span.h"

namespace tensorops::client {

inline constexpr char kDefaultAddress[] = "127.0.0.1:50051";

// Runs the tool with `args` (argv without the program name). Results go to
// `out`; errors to `err` as "tensorops: CODE: message". Returns the exit
// code: 0 on success, 1 when the call or its input fails (the server's
// errors included), 2 for command-line mistakes.
int RunCli(absl::Span<const std::string> args, std::ostream& out,
           std::ostream& err);

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_CLI_CLI_H_
