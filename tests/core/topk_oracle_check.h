// The topk oracle's check of one case (against the reference selection,
// libtorch's topk and, for floating dtypes, its autograd), the dtypes it
// covers, and the fixture its tests share.
#ifndef TENSOROPS_TESTS_CORE_TOPK_ORACLE_CHECK_H_
#define TENSOROPS_TESTS_CORE_TOPK_ORACLE_CHECK_H_

#include <c10/util/Logging.h>
#include <torch/torch.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/cpu/cpu_backend.h"
#include "core/dtype.h"
#include "gtest/gtest.h"
#include "tests/core/torch_oracle_support.h"

namespace tensorops::testing {

inline constexpr DType kTopKDTypes[] = {
    DType::kFloat32,  DType::kFloat64, DType::kFloat16,
    DType::kBFloat16, DType::kInt8,    DType::kInt16,
    DType::kInt32,    DType::kInt64,   DType::kUInt8};

// Situations the checked cases reached; tests assert they saw what they
// meant to probe.
struct Coverage {
  int64_t cases = 0;
  int64_t rank0 = 0;
  int64_t zero_size = 0;
  int64_t k_zero = 0;
  int64_t k_full = 0;
  int64_t negative_dim = 0;
  int64_t inner_dim = 0;  // non-last dim with inner size > 1
  int64_t smallest = 0;
  int64_t unsorted = 0;
  int64_t all_equal = 0;
  int64_t tied_selection = 0;  // some selected value ties another element
  int64_t nan = 0;
  int64_t infinity = 0;
  int64_t negative_zero = 0;
  int64_t backward = 0;
};

// Checks one case against the reference, libtorch's topk and, for floating
// dtypes, libtorch's autograd and scatter, and records what it reached.
::testing::AssertionResult CheckTopK(Backend& backend, const TopKCase& c,
                                     Coverage& coverage);

class TorchOracleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Torch's own thread pool would only compete with the backend's two.
    torch::set_num_threads(1);
    // Every c10::Error symbolizes a C++ backtrace (milliseconds each); the
    // rejection tests throw hundreds and never print them.
    c10::SetStackTraceFetcher([] { return std::string(); });
  }

  CpuBackend backend_{CpuBackendOptions{.num_threads = 2}};
};

// Tests are grouped by dtype family: each libtorch process costs a second or
// two to start, and ctest runs every test in its own process.
enum class DTypeFamily { kFloating, kInteger };

std::vector<DType> TopKDTypesOf(DTypeFamily family);
std::string FamilyName(const ::testing::TestParamInfo<DTypeFamily>& info);
void PrintTo(DTypeFamily family, std::ostream* os);

}  // namespace tensorops::testing

#endif  // TENSOROPS_TESTS_CORE_TOPK_ORACLE_CHECK_H_
