// The seed examples of the issue; torch_oracle_test.cc compares hundreds of
// further tensors with what torch itself prints.
#include "client/cli/torch_format.h"

#include "gtest/gtest.h"
#include "tests/support/tensor_builders.h"

namespace tensorops::client {
namespace {

using ::tensorops::testing::MakeTensor;

TEST(FormatLikeTorchTest, PrintsTheSeedExamples) {
  EXPECT_EQ(FormatLikeTorch(
                MakeTensor<int64_t>(DType::kInt64, {2, 3}, {0, 0, 0, 0, 0, 0})),
            "tensor([[0, 0, 0],\n        [0, 0, 0]])");
  EXPECT_EQ(FormatLikeTorch(
                MakeTensor<float>(DType::kFloat32, {4}, {0.2f, 0, 0.1f, 0})),
            "tensor([0.2000, 0.0000, 0.1000, 0.0000])");
  EXPECT_EQ(FormatSelectionLikeTorch(
                "topk", MakeTensor<float>(DType::kFloat32, {2}, {4, 3}),
                MakeTensor<int64_t>(DType::kInt64, {2}, {2, 0})),
            "torch.return_types.topk(\nvalues=tensor([4., 3.]),\n"
            "indices=tensor([2, 0]))");
}

TEST(FormatLikeTorchTest, ShowsNonDefaultDTypesScalarsAndEmptyShapes) {
  EXPECT_EQ(FormatLikeTorch(MakeTensor<float>(DType::kFloat32, {}, {7})),
            "tensor(7.)");
  EXPECT_EQ(FormatLikeTorch(MakeTensor<double>(DType::kFloat64, {2}, {1, 2})),
            "tensor([1., 2.], dtype=torch.float64)");
  EXPECT_EQ(FormatLikeTorch(MakeTensor<float>(DType::kFloat32, {0, 2}, {})),
            "tensor([], size=(0, 2))");
  EXPECT_EQ(FormatLikeTorch(MakeTensor<int64_t>(DType::kInt64, {0}, {})),
            "tensor([], dtype=torch.int64)");
  EXPECT_EQ(FormatLikeTorch(MakeTensor<uint8_t>(DType::kBool, {2}, {1, 0})),
            "tensor([ True, False])");
}

}  // namespace
}  // namespace tensorops::client
