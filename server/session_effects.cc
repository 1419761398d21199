#include "server/session_effects.h"

#include <utility>

#include "core/status_macros.h"

namespace tensorops::server {

absl::StatusOr<std::string> SaveSessionIfDelivered(
    SessionCache& sessions, request::SavedSelection selection,
    const std::string& caller, CallOutcome& outcome) {
  TENSOROPS_ASSIGN_OR_RETURN(std::string session_id,
                             sessions.Save(std::move(selection), caller));
  outcome.WhenDone([&sessions, session_id, caller](bool delivered) {
    if (!delivered) sessions.Release(session_id, caller).IgnoreError();
  });
  return session_id;
}

absl::Status ConsumeSessionIfDelivered(SessionCache& sessions,
                                       const std::string& session_id,
                                       const std::string& caller,
                                       CallOutcome& outcome) {
  TENSOROPS_ASSIGN_OR_RETURN(SessionCache::Claim claim,
                             sessions.ClaimSession(session_id, caller));
  outcome.WhenDone([claim = std::move(claim)](bool delivered) mutable {
    claim.Finish(/*consumed=*/delivered);
  });
  return absl::OkStatus();
}

}  // namespace tensorops::server
