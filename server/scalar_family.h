// One-sample metric families, for values read at scrape time.
#ifndef TENSOROPS_SERVER_SCALAR_FAMILY_H_
#define TENSOROPS_SERVER_SCALAR_FAMILY_H_

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <string>
#include <utility>

namespace tensorops::server {

// A family of one unlabelled sample: `value` as a counter or a gauge.
inline prometheus::MetricFamily ScalarFamily(std::string name, std::string help,
                                             prometheus::MetricType type,
                                             double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_SCALAR_FAMILY_H_
