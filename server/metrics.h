// Prometheus metrics of the service, served over HTTP at /metrics.
#ifndef TENSOROPS_SERVER_METRICS_H_
#define TENSOROPS_SERVER_METRICS_H_

#include <grpcpp/support/status.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/session_cache.h"

namespace prometheus {
class Counter;
class Exposer;
template <typename T>
class Family;
class Gauge;
class Histogram;
class Registry;
}  // namespace prometheus

namespace tensorops::server {

// Metrics exported (all prefixed tensorops_), with `method` one of the RPCs
// of tensorops.v1.TensorOps (proto/service_methods.h; calls name it by its
// index there):
//   requests_total{method,code}            counter
//   request_duration_seconds{method}       histogram, receipt to response sent
//   request_bytes_total{method}            counter, serialized request bytes
//   response_bytes_total{method}           counter, serialized response bytes
//   inflight_requests                      gauge
//   session_cache_entries, _bytes          gauges, read at scrape time
//   session_cache_evictions_total          counter, read at scrape time
//   session_cache_expirations_total        counter, read at scrape time
//   abandoned_computations_total{stage}    counter, computations of cancelled
//                                          calls skipped ("queued") or
//                                          stopped ("running")
//   response_write_timeouts_total          counter, calls cancelled because
//                                          their client did not take the
//                                          response in time
//   backend_info{backend}                  gauge, 1 for the serving backend
//   build_info{version,backend}            gauge, 1
//   heap_in_use_bytes, heap_free_bytes     gauges, what malloc holds, read at
//                                          scrape time (glibc only)
// and, unprefixed, the standard process metrics (server/process_metrics.h),
// read at scrape time.
//
// Thread-safe.
class Metrics {
 public:
  struct Options {
    // host:port to serve /metrics on (port 0 picks a free one); empty
    // serves nothing (metrics are still kept, see Render()).
    std::string listen_address;
    // Read at every scrape; may be null.
    std::function<SessionCacheStats()> session_stats;
    // The compute backend's name, exported as backend_info{backend} 1;
    // empty exports nothing.
    std::string backend;
    // The server's version, exported with the backend as
    // build_info{version,backend} 1; empty exports nothing.
    std::string version;
  };

  // UNAVAILABLE if the HTTP listener cannot be started.
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(Options options);
  ~Metrics();

  void RequestStarted();
  // A cancelled call's computation was skipped before it started
  // (while_running false) or stopped partway (true).
  void ComputationAbandoned(bool while_running);
  // A call was cancelled because its client did not take its response
  // within --response_write_timeout.
  void ResponseWriteTimedOut();
  // `method`: an index in [0, wire::MeteredMethodCount()).
  void RequestFinished(int method, grpc::StatusCode code,
                       absl::Duration latency, int64_t request_bytes,
                       int64_t response_bytes);

  // The port /metrics is served on; 0 if none.
  int listening_port() const;

  // The text exposition /metrics serves.
  std::string Render() const;

 private:
  class ScrapeTimeCollector;
  static constexpr int kNumCodes = 17;

  explicit Metrics(Options options);
  prometheus::Counter& RequestCounter(int method, grpc::StatusCode code);

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ScrapeTimeCollector> scrape_time_collector_;
  prometheus::Family<prometheus::Counter>* requests_family_;
  // Per method: counters of requests_total, created on first use (a
  // family's Add locks), and the other per-method series.
  struct MethodSeries {
    std::array<std::atomic<prometheus::Counter*>, kNumCodes> requests{};
    prometheus::Histogram* duration = nullptr;
    prometheus::Counter* request_bytes = nullptr;
    prometheus::Counter* response_bytes = nullptr;
  };
  std::unique_ptr<MethodSeries[]> methods_;
  prometheus::Gauge* inflight_;
  prometheus::Counter* abandoned_queued_;
  prometheus::Counter* abandoned_running_;
  prometheus::Counter* write_timeouts_;
  // Declared last: stops serving before the metrics it reads go away.
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_METRICS_H_
