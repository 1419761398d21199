// Runs the Open Inference Protocol's models, whatever the transport: a
// translated ModelInferRequest (request/inference_request.h) is validated
// by the request layer's planner of its operation, with the session effects
// of our own API (a saved session is kept only if the response is
// delivered; a Backward consumes its session only then), and computed on
// the backend into a ModelInferResponse with raw_output_contents.
#ifndef TENSOROPS_SERVER_INFERENCE_RUNNER_H_
#define TENSOROPS_SERVER_INFERENCE_RUNNER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "core/backend.h"
#include "inference/open_inference.pb.h"
#include "request/inference_request.h"
#include "request/limits.h"
#include "request/saved_selection.h"
#include "server/call_outcome.h"
#include "server/session_cache.h"

namespace tensorops::server {

// A validated inference call, ready to compute.
struct InferenceWork {
  int64_t bytes = 0;           // tensor bytes the computation touches
  int64_t response_bytes = 0;  // the most the response can take
  // Computes and fills the response (model, id, outputs, parameters).
  absl::AnyInvocable<absl::StatusOr<inference::ModelInferResponse>() &&> run;
};

// Thread-safe; the backend and the session cache must outlive it.
class InferenceRunner {
 public:
  InferenceRunner(Backend& backend, SessionCache& sessions,
                  request::RequestLimits limits)
      : backend_(backend), sessions_(sessions), limits_(limits) {}

  // Validates `call` (of request `id`) for `caller` (IdentifyCaller's owner
  // string) and returns its work, or the request layer's error. The work
  // reads `call`'s tensors in place: `call` (and the request it was
  // translated from) must outlive it. Session effects hang on `outcome`,
  // which the transport concludes once it knows whether the response
  // reached the client.
  absl::StatusOr<InferenceWork> Prepare(const request::InferCall& call,
                                        const std::string& id,
                                        const std::string& caller,
                                        CallOutcome& outcome) const;

 private:
  absl::StatusOr<InferenceWork> PrepareFill(const request::InferCall& call,
                                            const std::string& id) const;
  absl::StatusOr<InferenceWork> PrepareTopK(const request::InferCall& call,
                                            const std::string& id,
                                            const std::string& caller,
                                            CallOutcome& outcome) const;
  absl::StatusOr<InferenceWork> PrepareSelection(const request::InferCall& call,
                                                 const std::string& id,
                                                 const std::string& caller,
                                                 CallOutcome& outcome) const;
  absl::StatusOr<InferenceWork> PrepareBackward(const request::InferCall& call,
                                                const std::string& id,
                                                const std::string& caller,
                                                CallOutcome& outcome) const;

  // TopK's and the selection family's work: `compute`, then the session
  // (when `session.save`) and the response.
  using SelectionCompute = absl::AnyInvocable<absl::StatusOr<TopKResult>() &&>;
  absl::StatusOr<InferenceWork> SelectionWork(
      const request::InferCall& call, const std::string& id,
      const std::string& caller, CallOutcome& outcome,
      std::optional<request::SavedSelection> session, int64_t indices_bytes,
      int64_t bytes, int64_t response_bytes, SelectionCompute compute) const;

  Backend& backend_;
  SessionCache& sessions_;
  const request::RequestLimits limits_;
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_INFERENCE_RUNNER_H_
