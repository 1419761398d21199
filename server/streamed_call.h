// One streamed call of the service (TopKStream and the like; the proto's
// comment above TopKStreamRequest): chunks in while they are computed on,
// chunks out.
#ifndef TENSOROPS_SERVER_STREAMED_CALL_H_
#define TENSOROPS_SERVER_STREAMED_CALL_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/cancellation.h"
#include "core/tensor.h"
#include "google/protobuf/message.h"
#include "request/stream_request.h"
#include "server/call_outcome.h"
#include "server/executor.h"
#include "server/inflight_call.h"
#include "server/stream_messages.h"

namespace tensorops::server {

// The size of the chunks the server sends (GetServerInfo's
// stream_chunk_bytes) unless its message limit is smaller: under gRPC's
// default 4 MiB receive limit, so any client can take them.
inline constexpr int64_t kStreamChunkBytes = int64_t{2} << 20;

// Computation on received bytes, run off gRPC's threads.
struct StreamWork {
  int64_t bytes = 0;  // received bytes it holds
  absl::AnyInvocable<absl::Status() &&> run;
};

// The tensors a response carries, produced piece by piece (each is sent in
// chunks of at most the call's chunk size): called on the executor, one at a
// time. nullopt once all are produced.
class ResponsePieces {
 public:
  virtual ~ResponsePieces() = default;
  virtual absl::StatusOr<std::optional<Tensor>> Next() = 0;
};

struct StreamResponse {
  // The response message whose tensors have dtype and shape only.
  std::unique_ptr<google::protobuf::Message> header;
  std::unique_ptr<ResponsePieces> pieces;
};

class StreamedCall;

// What one streamed operation does with its call. The call serializes
// Append and TakeWork under its lock (they must be cheap), runs at most one
// StreamWork at a time, and calls Respond once every byte has arrived, the
// client has closed its side and the last work is done.
class StreamedOperation {
 public:
  virtual ~StreamedOperation() = default;
  // The bytes the request's chunks must hold, and what they are ("the
  // input, float32 [2, 3]") for error messages.
  virtual int64_t expected_bytes() const = 0;
  virtual std::string describe_bytes() const = 0;
  // Takes the next received chunk (in stream order).
  virtual void Append(ReceivedChunk chunk) = 0;
  // Work on what was appended, if there is enough (or, once
  // `all_received`, any at all).
  virtual std::optional<StreamWork> TakeWork(bool all_received) = 0;
  // Received bytes appended and not yet taken by TakeWork; the call stops
  // reading while they and the running work's are over hold_limit().
  virtual int64_t pending_bytes() const = 0;
  virtual int64_t hold_limit() const = 0;
  // The response; on the executor.
  virtual absl::StatusOr<StreamResponse> Respond(CallOutcome& outcome) = 0;
};

// How a streamed method's messages parse, and what starts its operation.
struct StreamMethod {
  int method = 0;  // index in the service descriptor
  absl::string_view name;
  // The *StreamRequest type, and a new empty unary request.
  const google::protobuf::Message* stream_request = nullptr;
  std::unique_ptr<google::protobuf::Message> (*new_request)() = nullptr;
};

// Creates the operation from the parsed request (validated there; on the
// gRPC thread), with the response bytes it will hold reserved by
// `reserve`.
using StartOperation =
    absl::AnyInvocable<absl::StatusOr<std::unique_ptr<StreamedOperation>>(
        const google::protobuf::Message& request,
        absl::FunctionRef<absl::Status(int64_t)> reserve)>;

// The reactor. Counts in the ledger from construction until it is deleted
// (after OnDone and its last executor task), observes the write timeout
// while it waits for the client's next message or for the client to take
// its next one, and frees everything at the end, whatever the outcome.
class StreamedCall final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamedCall(CallLedger& ledger, Executor& executor,
               grpc::CallbackServerContext* context, StreamMethod method,
               int64_t max_message_bytes, int64_t chunk_bytes);

  int64_t calls_at_arrival() const { return calls_at_arrival_; }
  // Who calls (IdentifyCaller's owner string), before Start: for the log.
  void set_caller(std::string caller) { caller_ = std::move(caller); }

  // Ends the call with `status` before anything was read.
  void Refuse(const absl::Status& status);
  // Starts reading; `start` creates the operation from the request.
  void Start(StartOperation start);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  ~StreamedCall() override;
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref();

  // Handles one received message; the status ends the call if not OK.
  absl::Status Receive() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void StartReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void StartWriteLocked(grpc::ByteBuffer message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Starts the next work, or the response once all is done.
  void ScheduleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void RunWork(StreamWork work);
  void Respond();
  // Produces messages until one is queued behind the one being written.
  void Produce();
  absl::StatusOr<std::optional<grpc::ByteBuffer>> NextMessage();
  // Finishes with `status` (once; after the write in flight, if any).
  void FinishLocked(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  CallLedger& ledger_;
  Executor& executor_;
  grpc::CallbackServerContext* const context_;
  const StreamMethod method_;
  const int64_t max_message_bytes_;
  const int64_t chunk_bytes_;
  const int64_t calls_at_arrival_;
  const std::chrono::steady_clock::time_point arrival_;
  // Set once before Start, read in OnDone: for the log.
  std::string caller_;
  // One for gRPC (until OnDone), one per executor task.
  std::atomic<int> refs_{1};
  Cancellation cancellation_;
  CallOutcome outcome_;
  WriteWatchdog::Watch watch_;
  StartOperation start_;

  absl::Mutex mutex_;
  grpc::ByteBuffer in_ ABSL_GUARDED_BY(mutex_);
  grpc::ByteBuffer out_ ABSL_GUARDED_BY(mutex_);
  std::unique_ptr<StreamedOperation> operation_ ABSL_GUARDED_BY(mutex_);
  std::optional<request::ChunkCounter> counter_ ABSL_GUARDED_BY(mutex_);
  bool reading_ ABSL_GUARDED_BY(mutex_) = false;
  bool client_closed_ ABSL_GUARDED_BY(mutex_) = false;
  bool working_ ABSL_GUARDED_BY(mutex_) = false;
  int64_t working_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
  bool responding_ ABSL_GUARDED_BY(mutex_) = false;
  bool producing_ ABSL_GUARDED_BY(mutex_) = false;
  bool produced_all_ ABSL_GUARDED_BY(mutex_) = false;
  bool writing_ ABSL_GUARDED_BY(mutex_) = false;
  std::deque<grpc::ByteBuffer> ready_ ABSL_GUARDED_BY(mutex_);
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
  std::optional<absl::Status> finish_after_write_ ABSL_GUARDED_BY(mutex_);
  grpc::StatusCode sent_code_ ABSL_GUARDED_BY(mutex_) =
      grpc::StatusCode::UNKNOWN;
  int64_t reserved_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
  int64_t request_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
  int64_t response_bytes_ ABSL_GUARDED_BY(mutex_) = 0;

  // The response being sent: touched only by the one Produce task running.
  std::unique_ptr<google::protobuf::Message> header_;
  std::unique_ptr<ResponsePieces> pieces_;
  std::optional<Tensor> piece_;
  size_t piece_offset_ = 0;
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_STREAMED_CALL_H_
