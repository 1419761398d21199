#include "core/tensor.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace tensorops {
namespace {

using ::testing::HasSubstr;
using testing::IsOk;
using testing::StatusIs;

TEST(TensorTest, AllocateIsAlignedAndSized) {
  absl::StatusOr<Tensor> t = Tensor::Allocate(DType::kFloat64, {3, 5});
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->num_elements(), 15);
  EXPECT_EQ(t->byte_size(), 120u);
  EXPECT_EQ(t->rank(), 2);
  EXPECT_FALSE(t->is_view());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data()) % 64, 0u);
  ASSERT_NE(t->mutable_data(), nullptr);
}

TEST(TensorTest, ZeroDimensionalAndEmpty) {
  absl::StatusOr<Tensor> scalar = Tensor::Allocate(DType::kInt8, {});
  ASSERT_THAT(scalar, IsOk());
  EXPECT_EQ(scalar->num_elements(), 1);
  EXPECT_EQ(scalar->rank(), 0);
  absl::StatusOr<Tensor> empty = Tensor::Allocate(DType::kInt8, {4, 0});
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->byte_size(), 0u);
}

TEST(TensorTest, ReshapedSharesTheBytes) {
  absl::StatusOr<Tensor> tensor = Tensor::Allocate(DType::kInt64, {2, 3});
  ASSERT_THAT(tensor, IsOk());
  absl::StatusOr<Tensor> reshaped = tensor->Reshaped({2, 1, 3});
  ASSERT_THAT(reshaped, IsOk());
  EXPECT_EQ(reshaped->shape(), Shape({2, 1, 3}));
  EXPECT_EQ(reshaped->data(), tensor->data());
  EXPECT_EQ(reshaped->mutable_data(), tensor->mutable_data());
}

TEST(TensorTest, ReshapedRefusesAnotherElementCount) {
  absl::StatusOr<Tensor> tensor = Tensor::Allocate(DType::kInt64, {2, 3});
  ASSERT_THAT(tensor, IsOk());
  EXPECT_THAT(tensor->Reshaped({7}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(TensorTest, AllocateRejectsBadShapes) {
  EXPECT_THAT(Tensor::Allocate(DType::kFloat32, {-1}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Tensor::Allocate(DType::kFloat32, {int64_t{1} << 62, 4}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(TensorTest, AllocateReportsExhaustionAsAStatus) {
  // 2^61 bytes fits int64 but no machine.
  EXPECT_THAT(Tensor::Allocate(DType::kUInt8, {int64_t{1} << 61}),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(TensorTest, ViewBorrowsWithoutCopying) {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2});
  absl::StatusOr<Tensor> view = Tensor::View(
      DType::kFloat32, {2},
      {reinterpret_cast<const std::byte*>(owner->data()), 8}, owner);
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->data(), reinterpret_cast<const std::byte*>(owner->data()));
  EXPECT_TRUE(view->is_view());
  EXPECT_EQ(view->mutable_data(), nullptr);
  EXPECT_EQ(owner.use_count(), 2);
  EXPECT_EQ(view->Load<float>(1), 2.0f);
}

TEST(TensorTest, ViewAndCopyCheckTheByteCount) {
  std::vector<std::byte> bytes(7);
  EXPECT_THAT(Tensor::View(DType::kFloat32, {2}, bytes, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has 7 bytes but a float32 tensor of shape "
                                 "[2] needs exactly 8 bytes")));
  EXPECT_THAT(Tensor::CopyOf(DType::kInt16, {4}, bytes),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(TensorTest, CopyOfCopies) {
  std::vector<std::byte> bytes(4, std::byte{7});
  absl::StatusOr<Tensor> copy = Tensor::CopyOf(DType::kUInt8, {2, 2}, bytes);
  ASSERT_THAT(copy, IsOk());
  bytes[0] = std::byte{0};
  EXPECT_EQ(copy->data()[0], std::byte{7});
}

TEST(TensorTest, CopiesShareBytes) {
  absl::StatusOr<Tensor> t = Tensor::Allocate(DType::kInt32, {4});
  ASSERT_THAT(t, IsOk());
  Tensor copy = *t;
  EXPECT_EQ(copy.data(), t->data());
}

}  // namespace
}  // namespace tensorops
