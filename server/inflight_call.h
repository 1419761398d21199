// One call of the service, from its arrival until gRPC is done with it.
#ifndef TENSOROPS_SERVER_INFLIGHT_CALL_H_
#define TENSOROPS_SERVER_INFLIGHT_CALL_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/cancellation.h"
#include "google/protobuf/message.h"
#include "proto/outgoing_message.h"
#include "server/call_outcome.h"
#include "server/metrics.h"
#include "server/received_request.h"
#include "server/write_watchdog.h"

namespace tensorops::server {

// What the calls of one service hold together.
struct CallLedger {
  // Calls from their arrival until gRPC is done with them (OnDone): the
  // --max_inflight_requests count, the drain's count and the in-flight
  // gauge. A call whose response its client has not taken still counts.
  std::atomic<int64_t> calls{0};
  // Response bytes reserved by those calls, against max_response_bytes.
  std::atomic<int64_t> response_bytes{0};
  int64_t max_response_bytes = int64_t{2} << 30;
  // Both may be null (no metrics; no write deadline).
  Metrics* metrics = nullptr;
  WriteWatchdog* watchdog = nullptr;
  // --log_requests: a log line for every finished call.
  bool log_requests = false;
};

// How a call ended, for its metrics and its log line.
struct FinishedCall {
  int method = 0;  // wire::MeteredMethodName's index
  grpc::StatusCode code = grpc::StatusCode::OK;
  absl::Duration duration;
  int64_t request_bytes = 0;
  int64_t response_bytes = 0;  // sent (0 unless OK)
  // IdentifyCaller's owner string; logged as CallerForLog shows it.
  absl::string_view caller;
};

// Records `call` in the ledger's metrics and, with log_requests, logs it:
// "call TopK OK 12.3 ms, request 131072056 bytes, response 40212 bytes,
// caller anonymous".
void RecordFinishedCall(const CallLedger& ledger, const FinishedCall& call);

// Takes `bytes` of the ledger's response budget. RESOURCE_EXHAUSTED, naming
// --max_inflight_response_bytes, if that would take it over the limit
// (nothing is taken then).
absl::Status ReserveLedgerBytes(CallLedger& ledger, int64_t bytes);

// The reactor of one unary call. It owns the call's request and response
// messages, counts in `ledger` from construction until OnDone (then deletes
// itself), turns gRPC's cancellation into a Cancellation the computation
// observes, and records the call's metrics once its outcome is known: a
// call that gRPC could not deliver (client gone, deadline, write timeout,
// stream reset) counts as CANCELLED whatever status it was finished with.
class InflightCall final : public grpc::ServerUnaryReactor {
 public:
  InflightCall(CallLedger& ledger, grpc::CallbackServerContext* context,
               int method, int64_t request_bytes,
               grpc::ByteBuffer* response_wire,
               std::unique_ptr<google::protobuf::Message> request,
               std::unique_ptr<google::protobuf::Message> response);

  // Calls in flight when this one arrived, itself included.
  int64_t calls_at_arrival() const { return calls_at_arrival_; }
  grpc::CallbackServerContext* context() const { return context_; }
  // Who calls (IdentifyCaller's owner string), once known: for the log.
  void set_caller(std::string caller) { caller_ = std::move(caller); }
  Cancellation& cancellation() { return cancellation_; }
  google::protobuf::Message* request() { return request_.get(); }
  google::protobuf::Message* response() { return response_.get(); }
  // Holds the received slices that lifted request bytes point into.
  ReceivedPayload& payload() { return payload_; }
  wire::OutgoingMessage& outgoing() { return outgoing_; }

  // Holds `bytes` of the ledger's response budget until OnDone.
  // RESOURCE_EXHAUSTED, naming --max_inflight_response_bytes, if that would
  // take the ledger over it (nothing is held then).
  absl::Status ReserveResponseBytes(int64_t bytes);

  // Runs `hook(result_delivered)` once the call's outcome is known:
  // true if it was completed OK and gRPC sent its response and status;
  // false if it failed, or was cancelled before that. Thread-safe; a hook
  // added once the outcome is known runs at once, on the calling thread.
  void WhenDone(absl::AnyInvocable<void(bool result_delivered) &&> hook) {
    outcome_.WhenDone(std::move(hook));
  }
  CallOutcome& outcome() { return outcome_; }

  // Sends `status`, with the response serialized if OK, and starts the
  // write deadline. Exactly once, from any thread.
  void Complete(const absl::Status& status);

  void OnCancel() override;
  void OnDone() override;
  // OnCancel and OnDone only update counters and run the WhenDone hooks
  // (which free or restore sessions, briefly, under the session cache's
  // lock), so they run inline on gRPC's thread instead of one executor hop
  // per call (a third of a tiny call's rate). gRPC marks this hook as meant
  // for its own reactors (its default reactor is inlineable this way); it is
  // the only way to have OnDone without the hop in gRPC 1.51.
  bool InternalInlineable() override { return true; }

 private:
  ~InflightCall() override = default;

  CallLedger& ledger_;
  grpc::CallbackServerContext* const context_;
  const int64_t calls_at_arrival_;
  const int method_;  // wire::MeteredMethodName's index
  const int64_t request_bytes_;
  grpc::ByteBuffer* const response_wire_;
  const std::unique_ptr<google::protobuf::Message> request_;
  const std::unique_ptr<google::protobuf::Message> response_;
  ReceivedPayload payload_;
  wire::OutgoingMessage outgoing_;
  const std::chrono::steady_clock::time_point arrival_;
  Cancellation cancellation_;
  WriteWatchdog::Watch watch_;
  int64_t reserved_response_bytes_ = 0;
  // Set by Complete, read in OnDone (which gRPC runs after Finish).
  grpc::StatusCode sent_code_ = grpc::StatusCode::UNKNOWN;
  int64_t sent_response_bytes_ = 0;
  std::string caller_;
  CallOutcome outcome_;
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_INFLIGHT_CALL_H_
