#include "bench/load/load_runner.h"

#include <grpcpp/alarm.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tensorops::load {
namespace {

std::string CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  if (index >= 0 && index < 17) return kNames[index];
  return absl::StrCat("CODE_", index);
}

std::shared_ptr<grpc::Channel> MakeChannel(const LoadOptions& options,
                                           int index) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // A private subchannel pool and a distinct argument: one TCP connection
  // per channel instead of one shared by all.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("tensorops.load.channel", index);
  for (const auto& [key, value] : options.channel_args) {
    int number;
    if (absl::SimpleAtoi(value, &number)) {
      args.SetInt(key, number);
    } else {
      args.SetString(key, value);
    }
  }
  return grpc::CreateCustomChannel(options.address,
                                   grpc::InsecureChannelCredentials(), args);
}

class Run;

// One unit in flight at a time; lives as long as the run.
class Slot {
 public:
  Slot(Run* run, grpc::GenericStub* stub) : run_(run), stub_(stub) {}
  void Next();
  LoadStats& stats() { return stats_; }

 private:
  void Start();
  void Issue(const std::string& method, const grpc::ByteBuffer& request);
  void OnDone(const grpc::Status& status);
  void Finish(const std::string& status, const std::string& error);

  Run* run_;
  grpc::GenericStub* stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::Alarm> alarm_;
  grpc::ByteBuffer response_;
  grpc::ByteBuffer backward_request_;
  bool in_backward_ = false;
  absl::Time unit_start_;
  LoadStats stats_;
};

class Run {
 public:
  Run(const LoadOptions& options, const CallPlan& plan)
      : options_(options), plan_(plan) {}

  LoadResult Execute(
      const std::vector<std::unique_ptr<grpc::GenericStub>>& stubs) {
    for (int i = 0; i < options_.concurrency; ++i) {
      slots_.push_back(
          std::make_unique<Slot>(this, stubs[i % options_.connections].get()));
    }
    start_ = absl::Now();
    absl::Duration limit = options_.max_run_time;
    if (options_.duration > absl::ZeroDuration()) {
      limit = std::min(limit, options_.duration);
    }
    end_ = start_ + limit;
    active_ = options_.concurrency;
    for (auto& slot : slots_) slot->Next();
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](int* active) { return *active == 0; }, &active_));
    }
    LoadResult result;
    result.total_time = absl::Now() - start_;
    for (auto& slot : slots_) result.stats.Merge(slot->stats());
    return result;
  }

  const LoadOptions& options() const { return options_; }
  const CallPlan& plan() const { return plan_; }
  absl::Time end() const { return end_; }

  // The scheduled start of the next unit, or nullopt when the run is over.
  std::optional<absl::Time> Claim() {
    const absl::Time now = absl::Now();
    if (now >= end_) return std::nullopt;
    const int64_t index = claimed_.fetch_add(1);
    if (options_.total > 0 && index >= options_.total) return std::nullopt;
    if (options_.rps <= 0) return now;
    const absl::Time at = start_ + absl::Seconds(index / options_.rps);
    if (at >= end_) return std::nullopt;
    return at;
  }

  void SlotDone() {
    absl::MutexLock lock(&mu_);
    --active_;
  }

 private:
  const LoadOptions& options_;
  const CallPlan& plan_;
  std::vector<std::unique_ptr<Slot>> slots_;
  absl::Time start_;
  absl::Time end_;
  std::atomic<int64_t> claimed_{0};
  absl::Mutex mu_;
  int active_ ABSL_GUARDED_BY(mu_) = 0;
};

void Slot::Next() {
  std::optional<absl::Time> at = run_->Claim();
  if (!at.has_value()) {
    run_->SlotDone();
    return;
  }
  if (*at <= absl::Now()) {
    Start();
    return;
  }
  alarm_ = std::make_unique<grpc::Alarm>();
  alarm_->Set(absl::ToChronoTime(*at), [this](bool) { Start(); });
}

void Slot::Start() {
  unit_start_ = absl::Now();
  in_backward_ = false;
  Issue(run_->plan().method(), run_->plan().request());
}

void Slot::Issue(const std::string& method, const grpc::ByteBuffer& request) {
  context_ = std::make_unique<grpc::ClientContext>();
  context_->set_deadline(
      absl::ToChronoTime(absl::Now() + run_->options().timeout));
  response_.Clear();
  stub_->UnaryCall(context_.get(), method, grpc::StubOptions(), &request,
                   &response_, [this](grpc::Status status) { OnDone(status); });
}

void Slot::OnDone(const grpc::Status& status) {
  if (!status.ok()) {
    Finish(CodeName(status.error_code()),
           absl::StrCat(CodeName(status.error_code()), ": ",
                        status.error_message()));
    return;
  }
  const CallPlan& plan = run_->plan();
  const bool chain = run_->options().call == CallKind::kChain;
  if (run_->options().check || (chain && !in_backward_)) {
    // The TopK of a chain is checked before its buffer is consumed below.
    absl::Status check = run_->options().check
                             ? plan.Check(response_, in_backward_)
                             : absl::OkStatus();
    if (!check.ok()) {
      Finish("CHECK_FAILED", std::string(check.message()));
      return;
    }
  }
  if (chain && !in_backward_) {
    absl::StatusOr<grpc::ByteBuffer> backward =
        plan.BackwardRequestFor(response_);
    if (!backward.ok()) {
      Finish("CHECK_FAILED", std::string(backward.status().message()));
      return;
    }
    backward_request_ = *std::move(backward);
    in_backward_ = true;
    Issue(CallPlan::BackwardMethod(), backward_request_);
    return;
  }
  Finish("OK", "");
}

void Slot::Finish(const std::string& status, const std::string& error) {
  stats_.Record(absl::Now() - unit_start_, status, error);
  Next();
}

}  // namespace

absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options,
                                   const CallPlan& plan) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (int i = 0; i < options.connections; ++i) {
    channels.push_back(MakeChannel(options, i));
    stubs.push_back(std::make_unique<grpc::GenericStub>(channels.back()));
  }
  if (options.warmup > 0) {
    // Unrecorded units on the same connections first: connection set-up
    // and HTTP/2 flow-control windows (grown by BDP probing) settle.
    LoadOptions warmup = options;
    warmup.total = options.warmup;
    warmup.duration = absl::ZeroDuration();
    warmup.rps = 0;
    Run(warmup, plan).Execute(stubs);
  }
  return Run(options, plan).Execute(stubs);
}

}  // namespace tensorops::load
