// Helpers of the selection oracle tests (selection_torch_oracle_test.cc and
// selection_torch_edge_test.cc): libtorch's op for a SelectionOptions, and the
// checks of one case's forward results and gradient against libtorch and
// against the reference of torch_oracle_support.
#ifndef TENSOROPS_TESTS_CORE_SELECTION_ORACLE_SUPPORT_H_
#define TENSOROPS_TESTS_CORE_SELECTION_ORACLE_SUPPORT_H_

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/backend.h"
#include "core/cpu/cpu_backend.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "gtest/gtest.h"
#include "tests/core/torch_oracle_support.h"
#include "tests/core/torch_tensors.h"

namespace tensorops::testing {

// Random cases per (kind, dtype): 10 dtypes for sort, max and min, 9 for
// kthvalue and median.
inline constexpr int64_t kRandomCasesPerDType = 160;
static_assert(kRandomCasesPerDType * 9 >= 1000,
              "the oracle must cover at least 1000 random cases per kind");

// Past this many failing cases of one dtype the rest add only noise.
inline constexpr int kMaxReportedFailures = 5;

inline constexpr SelectionKind kAllKinds[] = {
    SelectionKind::kSort, SelectionKind::kKthValue, SelectionKind::kMax,
    SelectionKind::kMin, SelectionKind::kMedian};

inline bool TakesBool(SelectionKind kind) {
  return kind != SelectionKind::kKthValue && kind != SelectionKind::kMedian;
}

inline bool Reduces(SelectionKind kind) { return kind != SelectionKind::kSort; }

// libtorch 1.13 has no CPU kthvalue or median for float16: those run on the
// input converted to float32, which holds every float16 exactly and orders
// them identically.
inline bool TorchViaFloat32(SelectionKind kind, DType dtype) {
  return dtype == DType::kFloat16 &&
         (kind == SelectionKind::kKthValue || kind == SelectionKind::kMedian);
}

// The number of dtypes `kind` takes (all but bool for kthvalue and median).
int64_t DTypesTaking(SelectionKind kind);

// ---- libtorch's op and the checks of one case. ----

struct TorchSelection {
  torch::Tensor values;
  torch::Tensor indices;
};

// libtorch's op for `options` (sort always stable); throws c10::Error where
// libtorch does.
TorchSelection RunTorch(const torch::Tensor& x,
                        const SelectionOptions& options);

// Situations the random cases reached; each test asserts it saw all of them.
struct Coverage {
  int64_t cases = 0;
  int64_t rank0 = 0;
  int64_t empty = 0;  // no elements
  int64_t negative_dim = 0;
  int64_t keepdim = 0;
  int64_t descending = 0;
  int64_t inner_dim = 0;  // non-last dim with inner size > 1
  int64_t all_equal = 0;
  int64_t tied_selection = 0;  // some selected value ties another element
  int64_t k_one = 0;           // kthvalue, k = 1 of size > 1
  int64_t k_full = 0;          // kthvalue, k = size > 1
  int64_t torch_picked_other_tie = 0;  // kthvalue: torch's index differs
  int64_t nan = 0;
  int64_t infinity = 0;
  int64_t negative_zero = 0;
  int64_t denormal = 0;
};

// Checks one valid case against the reference and libtorch's forward op:
// indices equal to torch's (sort, max, min, median) or holding torch's
// value (kthvalue, whose tie-break PyTorch leaves unspecified); values
// equal to torch's by order key and, where libtorch returns input elements
// of the same dtype, bit for bit. Counts what the case reached in
// `coverage` when it passes.
::testing::AssertionResult CheckForward(Backend& backend,
                                        const SelectionCase& c,
                                        Coverage& coverage);

// Checks a floating case's gradient: TopKBackward of a random gradient of
// the values (a reduction's unsqueezed at dim) equals libtorch's autograd of
// its op bit for bit, (a) fed torch's indices and (b) fed ours, against
// torch's scatter of the gradient at them (the same tensor wherever the
// indices agree).
::testing::AssertionResult CheckBackward(Backend& backend,
                                         const SelectionCase& c);

// SelectionOptions of `kind` with the given fields, the rest default.
SelectionOptions Options(SelectionKind kind, int64_t dim, bool keepdim = false,
                         bool descending = false, int64_t k = 1);

// A random input of `shape` drawn by `mix` (kPool: from a pool of 1).
Tensor RandomInput(Rng& rng, DType dtype, const Shape& shape,
                   ValueMix mix = ValueMix::kCoarse);

// The fixture of the selection oracle tests: a two-thread CpuBackend, with
// libtorch at one thread and without backtrace symbolization.
class SelectionOracleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();

  // kRandomCasesPerDType random cases of `kind` for every dtype it takes,
  // each checked by CheckForward; asserts the generator reached the
  // situations the oracle is meant to probe. Returns the cases that passed.
  int64_t RunRandomForwardCases(SelectionKind kind);

  CpuBackend backend_{CpuBackendOptions{.num_threads = 2}};
};

}  // namespace tensorops::testing

#endif  // TENSOROPS_TESTS_CORE_SELECTION_ORACLE_SUPPORT_H_
