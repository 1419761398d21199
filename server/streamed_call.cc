#include "server/streamed_call.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "proto/outgoing_message.h"
#include "server/status_mapping.h"

namespace tensorops::server {

StreamedCall::StreamedCall(CallLedger& ledger, Executor& executor,
                           grpc::CallbackServerContext* context,
                           StreamMethod method, int64_t max_message_bytes,
                           int64_t chunk_bytes)
    : ledger_(ledger),
      executor_(executor),
      context_(context),
      method_(std::move(method)),
      max_message_bytes_(max_message_bytes),
      chunk_bytes_(chunk_bytes),
      calls_at_arrival_(ledger.calls.fetch_add(1, std::memory_order_acq_rel) +
                        1),
      arrival_(std::chrono::steady_clock::now()) {
  if (ledger_.metrics != nullptr) ledger_.metrics->RequestStarted();
}

StreamedCall::~StreamedCall() {
  // Everything the call held goes before the ledger says it is gone (the
  // pieces may read the operation's tensors).
  pieces_.reset();
  piece_.reset();
  header_.reset();
  {
    absl::MutexLock lock(&mutex_);
    operation_.reset();
    ready_.clear();
    in_.Clear();
    out_.Clear();
  }
  start_ = nullptr;
  ledger_.response_bytes.fetch_sub(reserved_bytes_, std::memory_order_relaxed);
  // Last: the drain may end once the count reaches zero.
  ledger_.calls.fetch_sub(1, std::memory_order_acq_rel);
}

void StreamedCall::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void StreamedCall::Refuse(const absl::Status& status) {
  absl::MutexLock lock(&mutex_);
  FinishLocked(status);
}

void StreamedCall::Start(StartOperation start) {
  start_ = std::move(start);
  absl::MutexLock lock(&mutex_);
  StartReadLocked();
}

void StreamedCall::StartReadLocked() {
  reading_ = true;
  if (ledger_.watchdog != nullptr) ledger_.watchdog->Start(watch_, context_);
  StartRead(&in_);
}

void StreamedCall::StartWriteLocked(grpc::ByteBuffer message) {
  out_ = std::move(message);
  writing_ = true;
  response_bytes_ += static_cast<int64_t>(out_.Length());
  if (ledger_.watchdog != nullptr) ledger_.watchdog->Start(watch_, context_);
  StartWrite(&out_);
}

void StreamedCall::OnReadDone(bool ok) {
  // Outside the lock: the watchdog may be cancelling this call right now,
  // and its TryCancel runs OnCancel, which takes the lock.
  if (ledger_.watchdog != nullptr) ledger_.watchdog->Unwatch(watch_);
  absl::MutexLock lock(&mutex_);
  reading_ = false;
  if (finished_) return;
  if (!ok) {
    if (context_->IsCancelled()) {
      FinishLocked(absl::CancelledError(
          "the call was cancelled before its request had arrived"));
      return;
    }
    client_closed_ = true;
    if (operation_ == nullptr) {
      FinishLocked(absl::InvalidArgumentError(absl::StrCat(
          "the ", method_.name,
          " stream ended without a request; expected a first message with "
          "the request, then the chunks of its tensors' bytes")));
      return;
    }
    if (absl::Status complete = counter_->CheckComplete(); !complete.ok()) {
      FinishLocked(complete);
      return;
    }
    ScheduleLocked();
    return;
  }
  if (absl::Status received = Receive(); !received.ok()) {
    FinishLocked(received);
    return;
  }
  ScheduleLocked();
  if (!finished_ &&
      operation_->pending_bytes() + working_bytes_ < operation_->hold_limit()) {
    StartReadLocked();
  }
  // Otherwise reading waits for the work to take the bytes (RunWork).
}

absl::Status StreamedCall::Receive() {
  const int64_t size = static_cast<int64_t>(in_.Length());
  request_bytes_ += size;
  if (size > max_message_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a ", method_.name, " message has ", size,
        " bytes, more than this server's message limit of ", max_message_bytes_,
        " bytes (--max_message_bytes); expected chunks of ", chunk_bytes_,
        " bytes or so"));
  }
  std::unique_ptr<google::protobuf::Message> request = method_.new_request();
  ReceivedChunk chunk;
  absl::StatusOr<request::StreamPart> part =
      ParseStreamMessage(in_, *method_.stream_request, operation_ != nullptr,
                         method_.name, request.get(), &chunk);
  in_.Clear();
  if (!part.ok()) return part.status();
  if (*part == request::StreamPart::kRequest) {
    absl::StatusOr<std::unique_ptr<StreamedOperation>> operation =
        start_(*request, [this](int64_t bytes) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          absl::Status reserved = ReserveLedgerBytes(ledger_, bytes);
          if (reserved.ok()) reserved_bytes_ += bytes;
          return reserved;
        });
    if (!operation.ok()) return operation.status();
    operation_ = *std::move(operation);
    counter_.emplace(operation_->expected_bytes(),
                     operation_->describe_bytes());
    return absl::OkStatus();
  }
  if (absl::Status counted =
          counter_->Add(static_cast<int64_t>(chunk.bytes.size()));
      !counted.ok()) {
    return counted;
  }
  if (chunk.bytes.size() > 0) operation_->Append(std::move(chunk));
  return absl::OkStatus();
}

void StreamedCall::ScheduleLocked() {
  if (finished_ || working_ || responding_ || operation_ == nullptr) return;
  std::optional<StreamWork> work = operation_->TakeWork(counter_->complete());
  if (work.has_value()) {
    working_ = true;
    working_bytes_ = work->bytes;
    Ref();
    executor_.Submit([this, work = *std::move(work)]() mutable {
      RunWork(std::move(work));
    });
    return;
  }
  if (client_closed_ && counter_->complete()) {
    responding_ = true;
    Ref();
    executor_.Submit([this] { Respond(); });
  }
}

void StreamedCall::RunWork(StreamWork work) {
  absl::Status status;
  if (cancellation_.cancelled()) {
    status = absl::CancelledError("the call was cancelled");
  } else {
    CancellationScope scope(&cancellation_);
    status = std::move(work.run)();
  }
  work.run = nullptr;  // drops the received bytes it held
  {
    absl::MutexLock lock(&mutex_);
    working_ = false;
    working_bytes_ = 0;
    if (!status.ok()) {
      FinishLocked(status);
    } else {
      ScheduleLocked();
      if (!finished_ && !reading_ && !client_closed_ &&
          operation_->pending_bytes() + working_bytes_ <
              operation_->hold_limit()) {
        StartReadLocked();
      }
    }
  }
  Unref();
}

void StreamedCall::Respond() {
  StreamedOperation* operation = nullptr;
  {
    absl::MutexLock lock(&mutex_);
    if (!finished_) operation = operation_.get();
  }
  if (operation != nullptr) {
    absl::StatusOr<StreamResponse> response;
    {
      CancellationScope scope(&cancellation_);
      response = operation->Respond(outcome_);
    }
    bool produce = false;
    {
      absl::MutexLock lock(&mutex_);
      if (!response.ok()) {
        FinishLocked(response.status());
      } else if (!finished_) {
        header_ = std::move(response->header);
        pieces_ = std::move(response->pieces);
        producing_ = produce = true;
      }
    }
    if (produce) Produce();
  }
  Unref();
}

absl::StatusOr<std::optional<grpc::ByteBuffer>> StreamedCall::NextMessage() {
  if (header_ != nullptr) {
    absl::StatusOr<grpc::ByteBuffer> message = ResponseMessage(*header_);
    header_.reset();
    if (!message.ok()) return message.status();
    return *std::move(message);
  }
  while (!piece_.has_value() || piece_offset_ == piece_->byte_size()) {
    absl::StatusOr<std::optional<Tensor>> next;
    {
      CancellationScope scope(&cancellation_);
      next = pieces_->Next();
    }
    if (!next.ok()) return next.status();
    if (!next->has_value()) return std::nullopt;
    piece_ = **std::move(next);
    piece_offset_ = 0;
  }
  const size_t length =
      std::min<size_t>(chunk_bytes_, piece_->byte_size() - piece_offset_);
  grpc::ByteBuffer message =
      wire::StreamChunkMessage(*piece_, piece_offset_, length);
  piece_offset_ += length;
  return message;
}

void StreamedCall::Produce() {
  while (true) {
    absl::StatusOr<std::optional<grpc::ByteBuffer>> next = NextMessage();
    absl::MutexLock lock(&mutex_);
    if (finished_) {
      producing_ = false;
      return;
    }
    if (!next.ok()) {
      producing_ = false;
      FinishLocked(next.status());
      return;
    }
    if (!next->has_value()) {
      producing_ = false;
      produced_all_ = true;
      if (!writing_) FinishLocked(absl::OkStatus());
      return;
    }
    if (!writing_) {
      StartWriteLocked(**std::move(next));
      continue;  // and prepare the one after it meanwhile
    }
    ready_.push_back(**std::move(next));
    producing_ = false;
    return;
  }
}

void StreamedCall::OnWriteDone(bool ok) {
  if (ledger_.watchdog != nullptr) ledger_.watchdog->Unwatch(watch_);
  absl::MutexLock lock(&mutex_);
  writing_ = false;
  out_.Clear();
  if (finish_after_write_.has_value()) {
    Finish(ToGrpcStatus(*finish_after_write_));
    finish_after_write_.reset();
    return;
  }
  if (finished_) return;
  if (!ok) {
    FinishLocked(absl::CancelledError(
        "the call ended before the client took its response"));
    return;
  }
  if (!ready_.empty()) {
    grpc::ByteBuffer next = std::move(ready_.front());
    ready_.pop_front();
    StartWriteLocked(std::move(next));
  } else if (produced_all_) {
    FinishLocked(absl::OkStatus());
    return;
  }
  if (!producing_ && !produced_all_) {
    producing_ = true;
    Ref();
    executor_.Submit([this] {
      Produce();
      Unref();
    });
  }
}

void StreamedCall::FinishLocked(const absl::Status& status) {
  if (finished_) return;
  finished_ = true;
  grpc::Status sent = ToGrpcStatus(status);
  sent_code_ = sent.error_code();
  if (!status.ok()) {
    // Work still running stops early; sessions it claimed are usable
    // again at once.
    cancellation_.Cancel();
    outcome_.Conclude(false);
  }
  if (writing_) {
    finish_after_write_ = status;
    return;
  }
  Finish(std::move(sent));
}

void StreamedCall::OnCancel() {
  outcome_.Conclude(false);
  cancellation_.Cancel();
  absl::MutexLock lock(&mutex_);
  FinishLocked(absl::CancelledError("the call was cancelled"));
}

void StreamedCall::OnDone() {
  if (ledger_.watchdog != nullptr) ledger_.watchdog->Unwatch(watch_);
  const bool cancelled = context_->IsCancelled();
  grpc::StatusCode code;
  int64_t request_bytes = 0;
  int64_t response_bytes = 0;
  {
    absl::MutexLock lock(&mutex_);
    code = cancelled ? grpc::StatusCode::CANCELLED : sent_code_;
    request_bytes = request_bytes_;
    response_bytes = response_bytes_;
  }
  outcome_.Conclude(code == grpc::StatusCode::OK);
  RecordFinishedCall(
      ledger_,
      {.method = method_.method,
       .code = code,
       .duration =
           absl::FromChrono(std::chrono::steady_clock::now() - arrival_),
       .request_bytes = request_bytes,
       .response_bytes = code == grpc::StatusCode::OK ? response_bytes : 0,
       .caller = caller_});
  Unref();
}

}  // namespace tensorops::server
