#include "server/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "proto/service_methods.h"
#include "server/malloc_config.h"
#include "server/process_metrics.h"
#include "server/scalar_family.h"
#include "server/status_mapping.h"

namespace tensorops::server {

// Reports values read when scraped (the session cache's own counters, what
// malloc holds), so they are never stale and their owners need no reference
// to the metrics.
class Metrics::ScrapeTimeCollector final : public prometheus::Collectable {
 public:
  explicit ScrapeTimeCollector(std::function<SessionCacheStats()> stats)
      : stats_(std::move(stats)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> families;
    if (const HeapUsage heap = ReadHeapUsage(); heap.in_use_bytes >= 0) {
      families.push_back(ScalarFamily(
          "tensorops_heap_in_use_bytes",
          "Bytes allocated through malloc and not yet freed.",
          MetricType::Gauge, static_cast<double>(heap.in_use_bytes)));
      families.push_back(ScalarFamily(
          "tensorops_heap_free_bytes",
          "Freed bytes malloc keeps for reuse (resident memory "
          "counts them; a leak does not grow them).",
          MetricType::Gauge, static_cast<double>(heap.free_bytes)));
    }
    for (prometheus::MetricFamily& family :
         ProcessMetricFamilies(SampleThisProcess())) {
      families.push_back(std::move(family));
    }
    if (!stats_) return families;
    const SessionCacheStats stats = stats_();
    families.push_back(
        ScalarFamily("tensorops_session_cache_entries",
                     "Sessions saved for Backward and not yet freed.",
                     MetricType::Gauge, static_cast<double>(stats.entries)));
    families.push_back(ScalarFamily(
        "tensorops_session_cache_bytes", "Bytes held by saved sessions.",
        MetricType::Gauge, static_cast<double>(stats.bytes)));
    families.push_back(ScalarFamily(
        "tensorops_session_cache_evictions_total",
        "Sessions evicted to stay under --session_cache_bytes.",
        MetricType::Counter, static_cast<double>(stats.evictions)));
    families.push_back(ScalarFamily(
        "tensorops_session_cache_expirations_total",
        "Sessions freed after being idle for --session_ttl.",
        MetricType::Counter, static_cast<double>(stats.expirations)));
    return families;
  }

 private:
  const std::function<SessionCacheStats()> stats_;
};

Metrics::Metrics(Options options)
    : registry_(std::make_shared<prometheus::Registry>()),
      scrape_time_collector_(std::make_shared<ScrapeTimeCollector>(
          std::move(options.session_stats))) {
  requests_family_ = &prometheus::BuildCounter()
                          .Name("tensorops_requests_total")
                          .Help("RPCs finished, by method and status code.")
                          .Register(*registry_);
  auto& durations =
      prometheus::BuildHistogram()
          .Name("tensorops_request_duration_seconds")
          .Help(
              "Time from receiving an RPC until gRPC was done with it "
              "(response sent, or the call cancelled).")
          .Register(*registry_);
  auto& request_bytes = prometheus::BuildCounter()
                            .Name("tensorops_request_bytes_total")
                            .Help("Serialized request message bytes.")
                            .Register(*registry_);
  auto& response_bytes = prometheus::BuildCounter()
                             .Name("tensorops_response_bytes_total")
                             .Help("Serialized response message bytes.")
                             .Register(*registry_);
  inflight_ = &prometheus::BuildGauge()
                   .Name("tensorops_inflight_requests")
                   .Help(
                       "RPCs received and not yet finished by gRPC (a "
                       "response its client has not taken still counts).")
                   .Register(*registry_)
                   .Add({});
  auto& abandoned =
      prometheus::BuildCounter()
          .Name("tensorops_abandoned_computations_total")
          .Help(
              "Computations of cancelled calls (client gone or deadline "
              "passed): skipped while queued, or stopped while running.")
          .Register(*registry_);
  abandoned_queued_ = &abandoned.Add({{"stage", "queued"}});
  abandoned_running_ = &abandoned.Add({{"stage", "running"}});
  write_timeouts_ =
      &prometheus::BuildCounter()
           .Name("tensorops_response_write_timeouts_total")
           .Help(
               "Calls cancelled because their client did not take the "
               "response within --response_write_timeout (their memory was "
               "freed).")
           .Register(*registry_)
           .Add({});
  if (!options.backend.empty()) {
    prometheus::BuildGauge()
        .Name("tensorops_backend_info")
        .Help("The compute backend serving requests (value always 1).")
        .Register(*registry_)
        .Add({{"backend", options.backend}})
        .Set(1);
  }
  if (!options.version.empty()) {
    prometheus::BuildGauge()
        .Name("tensorops_build_info")
        .Help("The server's version and compute backend (value always 1).")
        .Register(*registry_)
        .Add({{"version", options.version}, {"backend", options.backend}})
        .Set(1);
  }
  // 100 us to 10 s: tiny tensors take microseconds, 512 MiB ones seconds.
  const prometheus::Histogram::BucketBoundaries buckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  methods_ = std::make_unique<MethodSeries[]>(wire::MeteredMethodCount());
  for (int m = 0; m < wire::MeteredMethodCount(); ++m) {
    const prometheus::Labels labels = {
        {"method", std::string(wire::MeteredMethodName(m))}};
    methods_[m].duration = &durations.Add(labels, buckets);
    methods_[m].request_bytes = &request_bytes.Add(labels);
    methods_[m].response_bytes = &response_bytes.Add(labels);
  }
}

Metrics::~Metrics() = default;

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(Options options) {
  const std::string address = options.listen_address;
  std::unique_ptr<Metrics> metrics(new Metrics(std::move(options)));
  if (address.empty()) return metrics;
  // prometheus-cpp (civetweb) reports a failed bind by throwing.
  try {
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address,
                     " (--metrics_address): ", e.what()));
  }
  metrics->exposer_->RegisterCollectable(metrics->registry_);
  metrics->exposer_->RegisterCollectable(metrics->scrape_time_collector_);
  return metrics;
}

prometheus::Counter& Metrics::RequestCounter(int method,
                                             grpc::StatusCode code) {
  int code_index = static_cast<int>(code);
  if (code_index < 0 || code_index >= kNumCodes) {
    code_index = static_cast<int>(grpc::StatusCode::UNKNOWN);
  }
  std::atomic<prometheus::Counter*>& slot =
      methods_[method].requests[code_index];
  prometheus::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Add() returns the existing series for the same labels, so racing
    // threads agree on the pointer.
    counter = &requests_family_->Add(
        {{"method", std::string(wire::MeteredMethodName(method))},
         {"code", StatusCodeName(static_cast<grpc::StatusCode>(code_index))}});
    slot.store(counter, std::memory_order_release);
  }
  return *counter;
}

void Metrics::RequestStarted() { inflight_->Increment(); }

void Metrics::ComputationAbandoned(bool while_running) {
  (while_running ? abandoned_running_ : abandoned_queued_)->Increment();
}

void Metrics::ResponseWriteTimedOut() { write_timeouts_->Increment(); }

void Metrics::RequestFinished(int method, grpc::StatusCode code,
                              absl::Duration latency, int64_t request_bytes,
                              int64_t response_bytes) {
  RequestCounter(method, code).Increment();
  MethodSeries& series = methods_[method];
  series.duration->Observe(absl::ToDoubleSeconds(latency));
  series.request_bytes->Increment(static_cast<double>(request_bytes));
  series.response_bytes->Increment(static_cast<double>(response_bytes));
  inflight_->Decrement();
}

int Metrics::listening_port() const {
  if (exposer_ == nullptr) return 0;
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::string Metrics::Render() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (auto& family : scrape_time_collector_->Collect()) {
    families.push_back(std::move(family));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace tensorops::server
