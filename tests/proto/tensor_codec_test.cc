// Wire tensor <-> core tensor: validation before allocation, views without
// copies, and one copy into responses.
#include "proto/tensor_codec.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops::wire {
namespace {

namespace v1 = ::tensorops::v1;
using ::tensorops::testing::IsOk;
using ::tensorops::testing::MakeTensor;
using ::tensorops::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

v1::Tensor Wire(int dtype, std::vector<int64_t> shape, size_t data_bytes) {
  v1::Tensor tensor;
  tensor.set_dtype(static_cast<v1::DType>(dtype));
  for (int64_t dim : shape) tensor.add_shape(dim);
  tensor.mutable_data()->assign(data_bytes, '\x01');
  return tensor;
}

TEST(TensorCodecTest, EveryDTypeRoundTrips) {
  for (DType dtype : kAllDTypes) {
    const v1::DType wire = DTypeToProto(dtype);
    EXPECT_NE(wire, v1::DTYPE_UNSPECIFIED);
    absl::StatusOr<DType> back = DTypeFromProto(wire, "x.dtype");
    ASSERT_THAT(back, IsOk());
    EXPECT_EQ(*back, dtype);
  }
}

TEST(TensorCodecTest, RejectsUnsetAndUnknownDTypes) {
  EXPECT_THAT(
      DTypeFromProto(v1::DTYPE_UNSPECIFIED, "input.dtype"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("input.dtype"), HasSubstr("DTYPE_UNSPECIFIED"),
                     HasSubstr("DTYPE_FLOAT32"))));
  EXPECT_THAT(DTypeFromProto(99, "input.dtype"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown value 99")));
}

TEST(TensorCodecTest, ViewReadsTheMessageBytesInPlace) {
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  v1::Tensor wire;
  wire.set_dtype(v1::DTYPE_FLOAT32);
  wire.add_shape(2);
  wire.add_shape(3);
  wire.set_data(values.data(), values.size() * sizeof(float));
  absl::StatusOr<Tensor> view = ViewFromProto(wire, "input");
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->data(),
            reinterpret_cast<const std::byte*>(wire.data().data()));
  EXPECT_EQ(view->dtype(), DType::kFloat32);
  EXPECT_EQ(view->shape(), Shape({2, 3}));
  EXPECT_EQ(view->Load<float>(2), 3.25f);
}

TEST(TensorCodecTest, ZeroDAndEmptyTensors) {
  absl::StatusOr<Tensor> scalar =
      ViewFromProto(Wire(v1::DTYPE_INT16, {}, 2), "input");
  ASSERT_THAT(scalar, IsOk());
  EXPECT_EQ(scalar->rank(), 0);
  EXPECT_EQ(scalar->num_elements(), 1);
  absl::StatusOr<Tensor> empty =
      ViewFromProto(Wire(v1::DTYPE_FLOAT64, {3, 0, 5}, 0), "input");
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->num_elements(), 0);
}

TEST(TensorCodecTest, RejectsDataOfTheWrongSize) {
  EXPECT_THAT(ViewFromProto(Wire(v1::DTYPE_FLOAT32, {2, 3}, 23), "input"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("input.data has 23 bytes"),
                             HasSubstr("needs exactly 24 bytes"))));
  EXPECT_THAT(ViewFromProto(Wire(v1::DTYPE_BOOL, {4}, 0), "grad_values"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("grad_values.data has 0 bytes")));
}

TEST(TensorCodecTest, OptionalDataMayBeEmptyButNotWrong) {
  absl::StatusOr<TensorSpec> spec = SpecFromProto(
      Wire(v1::DTYPE_INT64, {2, 3}, 0), "input", DataPolicy::kOptional);
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->byte_size, 48);
  EXPECT_THAT(SpecFromProto(Wire(v1::DTYPE_INT64, {2, 3}, 48), "input",
                            DataPolicy::kOptional),
              IsOk());
  EXPECT_THAT(SpecFromProto(Wire(v1::DTYPE_INT64, {2, 3}, 8), "input",
                            DataPolicy::kOptional),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("or none at all")));
}

TEST(TensorCodecTest, RejectsNegativeDimensions) {
  EXPECT_THAT(
      ViewFromProto(Wire(v1::DTYPE_FLOAT32, {2, -3}, 0), "input"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("input.shape[1] is -3"), HasSubstr(">= 0"))));
}

TEST(TensorCodecTest, RejectsElementAndByteCountOverflow) {
  const int64_t big = int64_t{1} << 32;
  EXPECT_THAT(SpecFromProto(Wire(v1::DTYPE_INT8, {big, big}, 0), "input",
                            DataPolicy::kOptional),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("int64")));
  // 2^61 elements fit in int64, 2^61 x 8 bytes do not.
  EXPECT_THAT(
      SpecFromProto(Wire(v1::DTYPE_FLOAT64, {int64_t{1} << 61}, 0), "input",
                    DataPolicy::kOptional),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("byte size")));
  // A zero dimension makes any other size fine.
  EXPECT_THAT(SpecFromProto(Wire(v1::DTYPE_FLOAT64,
                                 {0, std::numeric_limits<int64_t>::max()}, 0),
                            "input", DataPolicy::kRequired),
              IsOk());
}

TEST(TensorCodecTest, ToProtoCopiesBytesShapeAndDType) {
  const Tensor tensor =
      MakeTensor<uint16_t>(DType::kBFloat16, {3, 1}, {0x3f80, 0xc000, 0x7fc0});
  v1::Tensor wire;
  TensorToProto(tensor, &wire);
  EXPECT_EQ(wire.dtype(), v1::DTYPE_BFLOAT16);
  EXPECT_THAT(wire.shape(), ::testing::ElementsAre(3, 1));
  ASSERT_EQ(wire.data().size(), 6u);
  EXPECT_EQ(std::memcmp(wire.data().data(), tensor.data(), 6), 0);

  absl::StatusOr<Tensor> empty = Tensor::Allocate(DType::kInt32, {0, 4});
  ASSERT_THAT(empty, IsOk());
  TensorToProto(*empty, &wire);
  EXPECT_TRUE(wire.data().empty());
  EXPECT_THAT(wire.shape(), ::testing::ElementsAre(0, 4));
}

}  // namespace
}  // namespace tensorops::wire
