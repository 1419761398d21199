#include <cstdint>
#include <iterator>
#include <limits>
#include <type_traits>

#include "core/dtype.h"
#include "core/shape.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace tensorops {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

TEST(DTypeTest, SizesAndNames) {
  EXPECT_EQ(DTypeSize(DType::kFloat32), 4u);
  EXPECT_EQ(DTypeSize(DType::kFloat64), 8u);
  EXPECT_EQ(DTypeSize(DType::kFloat16), 2u);
  EXPECT_EQ(DTypeSize(DType::kBFloat16), 2u);
  EXPECT_EQ(DTypeSize(DType::kInt8), 1u);
  EXPECT_EQ(DTypeSize(DType::kInt16), 2u);
  EXPECT_EQ(DTypeSize(DType::kInt32), 4u);
  EXPECT_EQ(DTypeSize(DType::kInt64), 8u);
  EXPECT_EQ(DTypeSize(DType::kUInt8), 1u);
  EXPECT_EQ(DTypeSize(DType::kBool), 1u);
  for (DType dtype : kAllDTypes) {
    EXPECT_EQ(DTypeFromName(DTypeName(dtype)), dtype);
  }
  EXPECT_EQ(DTypeFromName("complex64"), std::nullopt);
  EXPECT_TRUE(IsFloatingPoint(DType::kBFloat16));
  EXPECT_FALSE(IsFloatingPoint(DType::kInt64));
  EXPECT_FALSE(IsFloatingPoint(DType::kBool));
}

// The enum's values are fixed (they are stored and sent as numbers).
static_assert(static_cast<int>(DType::kFloat32) == 0);
static_assert(static_cast<int>(DType::kUInt8) == 8);
static_assert(static_cast<int>(DType::kBool) == 9);
static_assert(std::size(kAllDTypes) == 10);
static_assert(std::is_same_v<ElementType<DType::kFloat32>, float>);
static_assert(std::is_same_v<ElementType<DType::kFloat64>, double>);
static_assert(std::is_same_v<ElementType<DType::kBFloat16>, uint16_t>);
static_assert(std::is_same_v<ElementType<DType::kUInt8>, uint8_t>);
static_assert(std::is_same_v<ElementType<DType::kBool>, bool>);

template <DType D>
void ExpectTraitsMatch() {
  EXPECT_EQ(DTypeTraits<D>::kSize, DTypeSize(D));
  EXPECT_EQ(sizeof(ElementType<D>), DTypeSize(D));
  EXPECT_EQ(DTypeTraits<D>::kName, DTypeName(D));
  EXPECT_EQ(DTypeTraits<D>::kIsFloatingPoint, IsFloatingPoint(D));
}

TEST(DTypeTest, TraitsMatchTheRuntimeProperties) {
  int count = 0;
#define TENSOROPS_EXPECT_TRAITS_(enumerator, ...) \
  ExpectTraitsMatch<DType::enumerator>();         \
  EXPECT_EQ(kAllDTypes[count++], DType::enumerator);
  TENSOROPS_FOR_EACH_DTYPE(TENSOROPS_EXPECT_TRAITS_)
#undef TENSOROPS_EXPECT_TRAITS_
  EXPECT_EQ(count, 10);
  int numeric = 0;
#define TENSOROPS_COUNT_(enumerator, ...)     \
  EXPECT_NE(DType::enumerator, DType::kBool); \
  ++numeric;
  TENSOROPS_FOR_EACH_NUMERIC_DTYPE(TENSOROPS_COUNT_)
#undef TENSOROPS_COUNT_
  EXPECT_EQ(numeric, 9);
}

TEST(ShapeTest, NumElements) {
  EXPECT_EQ(*NumElements({}), 1);
  EXPECT_EQ(*NumElements({2, 3}), 6);
  EXPECT_EQ(*NumElements({0, 5}), 0);
  EXPECT_THAT(NumElements({2, -1}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("negative dimension -1 at position 1")));
}

TEST(ShapeTest, OverflowIsAnErrorUnlessADimensionIsZero) {
  const int64_t big = int64_t{1} << 40;
  EXPECT_THAT(NumElements({big, big}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("more elements than fit in int64")));
  EXPECT_EQ(*NumElements({big, big, 0}), 0);
  const int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(*NumElements({max}), max);
  EXPECT_THAT(ByteSize(DType::kFloat32, {max}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("more bytes than fit in int64")));
  EXPECT_EQ(*ByteSize(DType::kFloat64, {2, 3}), 48);
  EXPECT_EQ(*ByteSize(DType::kBool, {}), 1);
}

TEST(ShapeTest, WrapDim) {
  EXPECT_EQ(*WrapDim(-1, 3), 2);
  EXPECT_EQ(*WrapDim(-3, 3), 0);
  EXPECT_EQ(*WrapDim(2, 3), 2);
  EXPECT_EQ(*WrapDim(0, 0), 0);
  EXPECT_EQ(*WrapDim(-1, 0), 0);
  EXPECT_THAT(WrapDim(3, 3),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected to be in range of [-3, 2]")));
  EXPECT_THAT(WrapDim(-4, 3), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("dim -4")));
  EXPECT_THAT(WrapDim(1, 0), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("[-1, 0]")));
}

TEST(ShapeTest, ToString) {
  EXPECT_EQ(ShapeToString({}), "[]");
  EXPECT_EQ(ShapeToString({2, 3}), "[2, 3]");
  EXPECT_EQ(ShapeToString({1, 2, 3, 4, 5, 6, 7, 8}),
            "[1, 2, 3, 4, 5, 6, 7, 8]");
}

TEST(ShapeTest, ToStringShowsTheFirstDimensionsOfALongShape) {
  EXPECT_EQ(ShapeToString({1, 2, 3, 4, 5, 6, 7, 8, 9}),
            "[1, 2, 3, 4, 5, 6, 7, 8, ... (rank 9)]");
  const Shape huge(2000000, 1);
  EXPECT_EQ(ShapeToString(huge),
            "[1, 1, 1, 1, 1, 1, 1, 1, ... (rank 2000000)]");
}

}  // namespace
}  // namespace tensorops
