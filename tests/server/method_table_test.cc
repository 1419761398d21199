// Every RPC of the proto's TensorOps service is served by the method table
// of server/tensor_ops_service.cc, and the metrics label every one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "proto/service_methods.h"
#include "server/metrics.h"
#include "server/tensor_ops_service.h"

namespace tensorops::server {
namespace {

using ::testing::HasSubstr;

TEST(MethodTableTest, EveryMethodOfTheDescriptorIsServed) {
  ASSERT_GT(wire::MethodCount(), 0);
  for (int m = 0; m < wire::MethodCount(); ++m) {
    EXPECT_TRUE(TensorOpsService::Serves(wire::MethodName(m)))
        << wire::MethodName(m);
  }
}

TEST(MethodTableTest, UnknownNamesAreNotServed) {
  EXPECT_FALSE(TensorOpsService::Serves("NoSuchMethod"));
}

TEST(MethodTableTest, MetricsLabelEveryMethod) {
  absl::StatusOr<std::unique_ptr<Metrics>> metrics = Metrics::Create({});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::string text = (*metrics)->Render();
  for (int m = 0; m < wire::MethodCount(); ++m) {
    EXPECT_THAT(
        text, HasSubstr(absl::StrCat("method=\"", wire::MethodName(m), "\"")));
  }
}

}  // namespace
}  // namespace tensorops::server
