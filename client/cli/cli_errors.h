// The CLI's two kinds of its own errors, told apart from a server's by a
// payload on the status: command-line mistakes (exit code 2) and local file
// errors (exit code 1, printed without a gRPC code, which they are not).
#ifndef TENSOROPS_CLIENT_CLI_CLI_ERRORS_H_
#define TENSOROPS_CLIENT_CLI_CLI_ERRORS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tensorops::client {

// A status that marks a command-line mistake (exit code 2, not 1).
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

// `status` (its code for callers of the library, e.g. NOT_FOUND) marked as
// about a file the CLI could not read or write here, e.g. "cannot open
// x.npy: No such file or directory": the CLI prints its message alone.
absl::Status LocalFileError(absl::Status status);
bool IsLocalFileError(const absl::Status& status);

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_CLI_CLI_ERRORS_H_
