#include "proto/service_methods.h"

#include <gtest/gtest.h>

namespace tensorops::wire {
namespace {

TEST(ServiceMethodsTest, IndicesFollowTheProtoOrder) {
  EXPECT_EQ(TensorOpsServiceDescriptor().full_name(), "tensorops.v1.TensorOps");
  EXPECT_EQ(MethodName(0), "ZerosLike");
  EXPECT_EQ(MethodIndex("TopK"), 2);
}

TEST(ServiceMethodsTest, NameAndIndexAreInverses) {
  for (int m = 0; m < MethodCount(); ++m) {
    EXPECT_EQ(MethodIndex(MethodName(m)), m);
  }
}

TEST(ServiceMethodsTest, UnknownNameHasNoIndex) {
  EXPECT_EQ(MethodIndex("NoSuchMethod"), std::nullopt);
}

TEST(ServiceMethodsTest, ListNamesEveryMethodInOrder) {
  EXPECT_EQ(MethodList().rfind("ZerosLike, OnesLike, TopK, Backward", 0), 0u);
}

TEST(ServiceMethodsTest, PathIsTheGrpcPathOfTheMethod) {
  EXPECT_STREQ(MethodPath("TopK"), "/tensorops.v1.TensorOps/TopK");
  EXPECT_EQ(MethodPath("TopK"), MethodPath("TopK"));  // stable storage
  EXPECT_EQ(MethodPath("NoSuchMethod"), nullptr);
}

}  // namespace
}  // namespace tensorops::wire
