#include "client/cli/cli_errors.h"

#include "absl/strings/cord.h"

namespace tensorops::client {
namespace {

constexpr absl::string_view kUsagePayload = "tensorops.cli/usage";
constexpr absl::string_view kLocalFilePayload = "tensorops.cli/local-file";

}  // namespace

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayload, absl::Cord("1"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

absl::Status LocalFileError(absl::Status status) {
  status.SetPayload(kLocalFilePayload, absl::Cord("1"));
  return status;
}

bool IsLocalFileError(const absl::Status& status) {
  return status.GetPayload(kLocalFilePayload).has_value();
}

}  // namespace tensorops::client
