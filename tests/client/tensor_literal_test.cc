#include "client/cli/tensor_literal.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "client/cli/tensor_values.h"
#include "core/half_float.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops::client {
namespace {

using ::tensorops::testing::IsOk;
using ::tensorops::testing::MakeTensor;
using ::tensorops::testing::StatusIs;
using ::tensorops::testing::Values;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseTensorLiteralTest, InfersDTypesLikeTorchTensor) {
  EXPECT_EQ(ParseTensorLiteral("[[1, 2], [3, 4]]")->dtype(), DType::kInt64);
  EXPECT_EQ(ParseTensorLiteral("[1, 2.0]")->dtype(), DType::kFloat32);
  EXPECT_EQ(ParseTensorLiteral("[1e3]")->dtype(), DType::kFloat32);
  EXPECT_EQ(ParseTensorLiteral("[true, false]")->dtype(), DType::kBool);
  EXPECT_EQ(ParseTensorLiteral("[true, 1]")->dtype(), DType::kInt64);
  EXPECT_EQ(ParseTensorLiteral("[]")->dtype(), DType::kFloat32);
  EXPECT_EQ(ParseTensorLiteral("[nan]")->dtype(), DType::kFloat32);
}

TEST(ParseTensorLiteralTest, BuildsShapesAndRowMajorValues) {
  absl::StatusOr<Tensor> matrix = ParseTensorLiteral(" [ [1,2,3] ,[4,5,6], ] ");
  ASSERT_THAT(matrix.status(), IsOk());
  EXPECT_EQ(matrix->shape(), (Shape{2, 3}));
  EXPECT_THAT(Values<int64_t>(*matrix), ElementsAre(1, 2, 3, 4, 5, 6));

  absl::StatusOr<Tensor> scalar = ParseTensorLiteral("-7");
  ASSERT_THAT(scalar.status(), IsOk());
  EXPECT_EQ(scalar->shape(), Shape{});
  EXPECT_THAT(Values<int64_t>(*scalar), ElementsAre(-7));

  EXPECT_EQ(ParseTensorLiteral("[]")->shape(), Shape{0});
  EXPECT_EQ(ParseTensorLiteral("[[], []]")->shape(), (Shape{2, 0}));
  EXPECT_EQ(ParseTensorLiteral("[[[1], [2]]]")->shape(), (Shape{1, 2, 1}));
}

TEST(ParseTensorLiteralTest, AcceptsPythonNumberForms) {
  absl::StatusOr<Tensor> tensor =
      ParseTensorLiteral("[3., .5, +1, -2E1, NaN, -Infinity, inf, -0.0]");
  ASSERT_THAT(tensor.status(), IsOk());
  const std::vector<float> values = Values<float>(*tensor);
  EXPECT_EQ(values[0], 3.0f);
  EXPECT_EQ(values[1], 0.5f);
  EXPECT_EQ(values[2], 1.0f);
  EXPECT_EQ(values[3], -20.0f);
  EXPECT_TRUE(std::isnan(values[4]));
  EXPECT_EQ(values[5], -INFINITY);
  EXPECT_EQ(values[6], INFINITY);
  EXPECT_TRUE(std::signbit(values[7]));
}

TEST(ParseTensorLiteralTest, ConvertsToTheRequestedDType) {
  EXPECT_THAT(Values<double>(*ParseTensorLiteral("[1, 0.1]", DType::kFloat64)),
              ElementsAre(1.0, 0.1));
  EXPECT_THAT(Values<int8_t>(*ParseTensorLiteral("[-128, true]", DType::kInt8)),
              ElementsAre(-128, 1));
  EXPECT_THAT(
      Values<uint8_t>(*ParseTensorLiteral("[0, 2, -1.5, false]", DType::kBool)),
      ElementsAre(0, 1, 1, 0));
  EXPECT_THAT(Values<uint16_t>(*ParseTensorLiteral("[0.1]", DType::kFloat16)),
              ElementsAre(FloatToHalf(0.1f)));
  EXPECT_THAT(Values<uint16_t>(*ParseTensorLiteral("[1]", DType::kBFloat16)),
              ElementsAre(0x3f80));
}

TEST(ParseTensorLiteralTest, RejectsWhatDoesNotFitTheDType) {
  EXPECT_THAT(ParseTensorLiteral("[128]", DType::kInt8).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("out of the range of int8")));
  EXPECT_THAT(ParseTensorLiteral("[-1]", DType::kUInt8).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseTensorLiteral("[1.5]", DType::kInt32).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not an integer")));
  EXPECT_THAT(ParseTensorLiteral("[9223372036854775808]").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not fit in int64")));
}

TEST(ParseTensorLiteralTest, RejectsMalformedText) {
  for (const char* text :
       {"", "[", "[1, 2", "[1 2]", "[1,, 2]", "[[1, 2], [3]]", "[[1], 2]",
        "[1, [2]]", "[[], [1]]", "[1] x", "[abc]", "[1e]", "[-]", "[.]",
        "[-true]", "{}", "[\"1\"]"}) {
    EXPECT_THAT(ParseTensorLiteral(text).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("cannot parse tensor")))
        << text;
  }
  EXPECT_THAT(ParseTensorLiteral("[[1, 2], [3]]").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected a list of length 2")));
}

TEST(ParseShapeLiteralTest, AcceptsCommonSpellings) {
  EXPECT_THAT(*ParseShapeLiteral("[2, 3]"), ElementsAre(2, 3));
  EXPECT_THAT(*ParseShapeLiteral("(4,)"), ElementsAre(4));
  EXPECT_THAT(*ParseShapeLiteral("2,0"), ElementsAre(2, 0));
  EXPECT_THAT(*ParseShapeLiteral("5"), ElementsAre(5));
  EXPECT_THAT(*ParseShapeLiteral("[]"), ElementsAre());
  EXPECT_THAT(*ParseShapeLiteral("()"), ElementsAre());
  EXPECT_THAT(ParseShapeLiteral("[2, -1]").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseShapeLiteral("[2, x]").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseShapeLiteral("[2").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(TensorToJsonTest, WritesDTypeShapeAndNestedData) {
  EXPECT_EQ(TensorToJson(MakeTensor<float>(DType::kFloat32, {2, 2},
                                           {1.5f, 2.0f, NAN, -INFINITY})),
            "{\"dtype\": \"float32\", \"shape\": [2, 2], \"data\": "
            "[[1.5, 2.0], [NaN, -Infinity]]}");
  EXPECT_EQ(TensorToJsonList(MakeTensor<uint8_t>(DType::kBool, {3}, {1, 0, 1})),
            "[true, false, true]");
  EXPECT_EQ(TensorToJsonList(MakeTensor<int64_t>(DType::kInt64, {}, {-3})),
            "-3");
  EXPECT_EQ(TensorToJsonList(MakeTensor<float>(DType::kFloat32, {2, 0}, {})),
            "[[], []]");
}

// The JSON text of every dtype parses back to the same bits.
TEST(TensorToJsonTest, RoundTripsThroughTheParserBitExactly) {
  std::mt19937 rng(5);
  for (DType dtype : kAllDTypes) {
    for (int trial = 0; trial < 20; ++trial) {
      // Nested lists cannot show a leading zero dimension ("[]" is [0]),
      // which is why TensorToJson also writes the shape.
      const Shape shape = {static_cast<int64_t>(rng() % 3 + 1),
                           static_cast<int64_t>(rng() % 5)};
      absl::StatusOr<Tensor> tensor = Tensor::Allocate(dtype, shape);
      ASSERT_THAT(tensor.status(), IsOk());
      for (size_t b = 0; b < tensor->byte_size(); ++b) {
        tensor->mutable_data()[b] = static_cast<std::byte>(rng());
      }
      if (dtype == DType::kBool) {
        for (size_t b = 0; b < tensor->byte_size(); ++b) {
          tensor->mutable_data()[b] &= std::byte{1};
        }
      }
      absl::StatusOr<Tensor> parsed =
          ParseTensorLiteral(TensorToJsonList(*tensor), dtype);
      ASSERT_THAT(parsed.status(), IsOk()) << TensorToJsonList(*tensor);
      ASSERT_EQ(parsed->shape(), shape);
      for (int64_t i = 0; i < tensor->num_elements(); ++i) {
        if (std::isnan(LoadAsDouble(*tensor, i))) {
          // JSON has a single NaN: the payload is not kept.
          EXPECT_TRUE(std::isnan(LoadAsDouble(*parsed, i)));
          continue;
        }
        const size_t size = DTypeSize(dtype);
        EXPECT_EQ(std::memcmp(parsed->data() + i * size,
                              tensor->data() + i * size, size),
                  0)
            << DTypeName(dtype) << " element " << i << " of "
            << TensorToJsonList(*tensor);
      }
    }
  }
}

}  // namespace
}  // namespace tensorops::client
