#include "core/cpu/cpu_features.h"

#include <cstdlib>
#include <optional>

#include "gtest/gtest.h"

namespace tensorops::cpu {
namespace {

constexpr KernelIsa kAll[] = {KernelIsa::kGeneric, KernelIsa::kAvx2,
                              KernelIsa::kAvx512};

TEST(KernelIsaTest, NamesParseBack) {
  for (KernelIsa isa : kAll) {
    EXPECT_EQ(ParseKernelIsa(KernelIsaName(isa)), isa);
  }
  EXPECT_EQ(ParseKernelIsa("sse9"), std::nullopt);
  EXPECT_EQ(ParseKernelIsa(""), std::nullopt);
}

TEST(KernelIsaTest, GenericAlwaysRuns) {
  EXPECT_TRUE(CanRunKernels(KernelIsa::kGeneric));
  EXPECT_EQ(ChooseKernelIsa("generic"), KernelIsa::kGeneric);
}

TEST(KernelIsaTest, UnsetOrUnknownChoosesTheBestRunnableClone) {
  const KernelIsa best = ChooseKernelIsa(nullptr);
  EXPECT_TRUE(CanRunKernels(best));
  for (KernelIsa isa : kAll) {
    if (static_cast<int>(isa) > static_cast<int>(best)) {
      EXPECT_FALSE(CanRunKernels(isa)) << KernelIsaName(isa);
    }
  }
  EXPECT_EQ(ChooseKernelIsa("sse9"), best);
}

TEST(KernelIsaTest, ARunnableRequestIsHonouredAndOthersFallBack) {
  const KernelIsa best = ChooseKernelIsa(nullptr);
  for (KernelIsa isa : kAll) {
    EXPECT_EQ(ChooseKernelIsa(KernelIsaName(isa)),
              CanRunKernels(isa) ? isa : best)
        << KernelIsaName(isa);
  }
}

// The ctest entries that set TENSOROPS_CPU_KERNELS rely on this.
TEST(KernelIsaTest, ChosenFollowsTheEnvironment) {
  EXPECT_EQ(ChosenKernelIsa(),
            ChooseKernelIsa(std::getenv("TENSOROPS_CPU_KERNELS")));
}

}  // namespace
}  // namespace tensorops::cpu
