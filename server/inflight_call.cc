#include "server/inflight_call.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "proto/service_methods.h"
#include "server/caller_identity.h"
#include "server/log.h"
#include "server/status_mapping.h"

namespace tensorops::server {

InflightCall::InflightCall(CallLedger& ledger,
                           grpc::CallbackServerContext* context, int method,
                           int64_t request_bytes,
                           grpc::ByteBuffer* response_wire,
                           std::unique_ptr<google::protobuf::Message> request,
                           std::unique_ptr<google::protobuf::Message> response)
    : ledger_(ledger),
      context_(context),
      calls_at_arrival_(ledger.calls.fetch_add(1, std::memory_order_acq_rel) +
                        1),
      method_(method),
      request_bytes_(request_bytes),
      response_wire_(response_wire),
      request_(std::move(request)),
      response_(std::move(response)),
      arrival_(std::chrono::steady_clock::now()) {
  if (ledger_.metrics != nullptr) ledger_.metrics->RequestStarted();
}

void RecordFinishedCall(const CallLedger& ledger, const FinishedCall& call) {
  if (ledger.metrics != nullptr) {
    ledger.metrics->RequestFinished(call.method, call.code, call.duration,
                                    call.request_bytes, call.response_bytes);
  }
  if (!ledger.log_requests) return;
  LogInfo(absl::StrFormat(
      "call %s %s %.3f ms, request %d bytes, response %d bytes, caller %s",
      wire::MeteredMethodName(call.method),
      absl::StatusCodeToString(static_cast<absl::StatusCode>(call.code)),
      absl::ToDoubleMilliseconds(call.duration), call.request_bytes,
      call.response_bytes, CallerForLog(call.caller)));
}

absl::Status ReserveLedgerBytes(CallLedger& ledger, int64_t bytes) {
  int64_t held = ledger.response_bytes.load(std::memory_order_relaxed);
  do {
    if (bytes > ledger.max_response_bytes - held) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "this response needs ", bytes, " bytes and the server already holds ",
          held,
          " bytes of responses being computed or not yet taken by their "
          "clients, its limit being ",
          ledger.max_response_bytes,
          " (--max_inflight_response_bytes); retry with backoff"));
    }
  } while (!ledger.response_bytes.compare_exchange_weak(
      held, held + bytes, std::memory_order_relaxed));
  return absl::OkStatus();
}

absl::Status InflightCall::ReserveResponseBytes(int64_t bytes) {
  if (absl::Status reserved = ReserveLedgerBytes(ledger_, bytes);
      !reserved.ok()) {
    return reserved;
  }
  reserved_response_bytes_ += bytes;
  return absl::OkStatus();
}

void InflightCall::Complete(const absl::Status& status) {
  grpc::Status grpc_status = ToGrpcStatus(status);
  if (grpc_status.ok()) {
    grpc_status = ToGrpcStatus(outgoing_.Serialize(*response_, response_wire_));
    sent_response_bytes_ = static_cast<int64_t>(response_wire_->Length());
  }
  sent_code_ = grpc_status.error_code();
  // Without a result there is nothing to deliver: settle the hooks now
  // (sessions a failed call claimed are usable again at once).
  if (!grpc_status.ok()) outcome_.Conclude(false);
  if (ledger_.watchdog != nullptr) ledger_.watchdog->Start(watch_, context_);
  Finish(std::move(grpc_status));
}

void InflightCall::OnCancel() {
  // The client will not see a result, whatever Complete sends.
  outcome_.Conclude(false);
  cancellation_.Cancel();
}

void InflightCall::OnDone() {
  if (ledger_.watchdog != nullptr) ledger_.watchdog->Unwatch(watch_);
  const bool cancelled = context_->IsCancelled();
  outcome_.Conclude(!cancelled && sent_code_ == grpc::StatusCode::OK);
  const grpc::StatusCode code =
      cancelled ? grpc::StatusCode::CANCELLED : sent_code_;
  RecordFinishedCall(
      ledger_, {.method = method_,
                .code = code,
                .duration = absl::FromChrono(std::chrono::steady_clock::now() -
                                             arrival_),
                .request_bytes = request_bytes_,
                .response_bytes =
                    code == grpc::StatusCode::OK ? sent_response_bytes_ : 0,
                .caller = caller_});
  ledger_.response_bytes.fetch_sub(reserved_response_bytes_,
                                   std::memory_order_relaxed);
  // Last: the drain may end once the count reaches zero.
  ledger_.calls.fetch_sub(1, std::memory_order_acq_rel);
  delete this;
}

}  // namespace tensorops::server
