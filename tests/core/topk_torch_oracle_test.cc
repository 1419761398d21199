#include <torch/torch.h>

#include "core/cpu/cpu_backend.h"
#include "gtest/gtest.h"

namespace tensorops {
namespace {

TEST(TorchOracleTest, LinksAgainstLibtorch) {
  torch::Tensor t = torch::tensor({3.0f, 1.0f, 4.0f, 2.0f});
  auto [values, indices] = t.topk(2);
  EXPECT_EQ(indices[0].item<int64_t>(), 2);
}

}  // namespace
}  // namespace tensorops
