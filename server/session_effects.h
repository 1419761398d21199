// A call's effects on sessions, tied to whether its result is delivered:
// what unary and streamed calls do alike.
#ifndef TENSOROPS_SERVER_SESSION_EFFECTS_H_
#define TENSOROPS_SERVER_SESSION_EFFECTS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "request/saved_selection.h"
#include "server/call_outcome.h"
#include "server/session_cache.h"

namespace tensorops::server {

// Saves `selection` as a session of `caller` and returns its id; the
// session is released again unless the call's result is delivered (nobody
// can use an id that never arrived).
absl::StatusOr<std::string> SaveSessionIfDelivered(
    SessionCache& sessions, request::SavedSelection selection,
    const std::string& caller, CallOutcome& outcome);

// Claims session `session_id` of `caller` for this call: of several
// concurrent claims exactly one succeeds, and the session is consumed only
// if this call's result is delivered (else usable again).
absl::Status ConsumeSessionIfDelivered(SessionCache& sessions,
                                       const std::string& session_id,
                                       const std::string& caller,
                                       CallOutcome& outcome);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_SESSION_EFFECTS_H_
