// gMock matchers for absl::Status and absl::StatusOr, in the style of
// tensorstore's and absl's internal ones.
#ifndef TENSOROPS_TESTS_SUPPORT_STATUS_MATCHERS_H_
#define TENSOROPS_TESTS_SUPPORT_STATUS_MATCHERS_H_

#include <ostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace tensorops::testing {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches a Status or StatusOr whose code is `code` and whose message matches
// `message_matcher` (any message by default).
MATCHER_P2(StatusIs, code, message_matcher,
           "status code " + absl::StatusCodeToString(code)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(
             message_matcher, std::string(status.message()), result_listener);
}

// Matches a Status or StatusOr whose code is `code`, whatever its message.
inline auto StatusIs(absl::StatusCode code) {
  return StatusIs(code, ::testing::_);
}

// Matches an OK Status or StatusOr.
MATCHER(IsOk, "is OK") {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.ok();
}

}  // namespace tensorops::testing

#endif  // TENSOROPS_TESTS_SUPPORT_STATUS_MATCHERS_H_
