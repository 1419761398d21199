#include "bench/bench_cases.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tensorops::bench {
namespace {

struct TopKSize {
  Shape shape;
  int64_t k;
  int64_t dim;
};

std::string TopKSuffix(const TopKSize& size) {
  std::string suffix =
      absl::StrCat(absl::StrJoin(size.shape, "x"), "/k", size.k);
  if (size.dim != -1) absl::StrAppend(&suffix, "/dim", size.dim);
  return suffix;
}

// The selection family, grouped by shape so consecutive cases share one
// generated input: long rows (the topk input's shape), and a small shape
// that the smoke test runs.
void AppendSelectionCases(std::vector<BenchCase>& cases) {
  struct SelectionSize {
    const char* label;
    Shape shape;
    SelectionOptions selection;
  };
  const Shape logits = {4096, 32000};
  const Shape square = {1024, 1024};
  const SelectionSize sizes[] = {
      {"", logits, {.kind = SelectionKind::kMax}},
      {"/dim0", logits, {.kind = SelectionKind::kMax, .dim = 0}},
      {"", logits, {.kind = SelectionKind::kMin}},
      {"", logits, {.kind = SelectionKind::kSort}},
      {"/descending",
       logits,
       {.kind = SelectionKind::kSort, .descending = true}},
      {"/k3200", logits, {.kind = SelectionKind::kKthValue, .k = 3200}},
      {"", logits, {.kind = SelectionKind::kMedian}},
      {"", square, {.kind = SelectionKind::kSort}},
      {"/descending",
       square,
       {.kind = SelectionKind::kSort, .descending = true}},
      {"/k100", square, {.kind = SelectionKind::kKthValue, .k = 100}},
      {"", square, {.kind = SelectionKind::kMedian}},
      {"", square, {.kind = SelectionKind::kMax}},
  };
  for (const SelectionSize& size : sizes) {
    cases.push_back(
        {.name = absl::StrCat(SelectionKindName(size.selection.kind), "/",
                              absl::StrJoin(size.shape, "x"), size.label),
         .op = BenchOp::kSelect,
         .shape = size.shape,
         .dim = size.selection.dim,
         .selection = size.selection});
  }
}

}  // namespace

std::vector<BenchCase> DefaultCases() {
  const TopKSize topk_sizes[] = {
      {{4096, 32000}, 50, -1},
      {{4096, 32000}, 50, 0},
      {{65536, 128}, 8, -1},
      {{65536, 64}, 4, -1},
      {{16384, 512}, 16, -1},
      {{1024, 50000}, 1, -1},
      {{1, 16777216}, 100, -1},
      {{1024, 1024}, 512, -1},
      // dim=0's bytes laid out as rows: per-slice costs, not the layout.
      {{32000, 4096}, 50, -1},
  };
  // The other dtypes' topk, on the long rows and the short ones. libtorch
  // 1.13 has no CPU topk for float16: its side converts to float32 and back
  // (bench/torch_ops.cc).
  const DType other_dtypes[] = {DType::kFloat16, DType::kBFloat16,
                                DType::kInt32, DType::kInt64};
  std::vector<BenchCase> cases;
  // Each topk case is followed by its backward, so the two share one
  // generated input (see case_inputs.cc).
  for (const TopKSize& size : topk_sizes) {
    const std::string suffix = TopKSuffix(size);
    cases.push_back({absl::StrCat("topk/", suffix), BenchOp::kTopK, size.shape,
                     size.k, size.dim});
    cases.push_back({absl::StrCat("topk_backward/", suffix),
                     BenchOp::kTopKBackward, size.shape, size.k, size.dim});
    const bool other_dtypes_too =
        size.dim == -1 &&
        (size.shape == Shape{4096, 32000} || size.shape == Shape{65536, 128});
    for (DType dtype : other_dtypes) {
      if (!other_dtypes_too) break;
      cases.push_back(
          {.name = absl::StrCat("topk/", suffix, "/", DTypeName(dtype)),
           .op = BenchOp::kTopK,
           .shape = size.shape,
           .k = size.k,
           .dim = size.dim,
           .dtype = dtype});
    }
  }
  AppendSelectionCases(cases);
  const Shape large = {int64_t{64} << 20 >> 2};  // 64 MiB of float32
  const Shape small = {2, 3};
  cases.push_back({"zeros_like/64MiB", BenchOp::kZerosLike, large});
  cases.push_back({"ones_like/64MiB", BenchOp::kOnesLike, large});
  cases.push_back({"zeros_like/2x3", BenchOp::kZerosLike, small});
  cases.push_back({"ones_like/2x3", BenchOp::kOnesLike, small});
  return cases;
}

int64_t BytesPerCall(const BenchCase& bench_case) {
  int64_t elements = 1;
  for (int64_t d : bench_case.shape) elements *= d;
  // Every op reads or writes a tensor of the case's shape and dtype.
  return elements * static_cast<int64_t>(DTypeSize(bench_case.dtype));
}

}  // namespace tensorops::bench
