// The operations and sizes that core_bench measures.
#ifndef TENSOROPS_BENCH_BENCH_CASES_H_
#define TENSOROPS_BENCH_BENCH_CASES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace tensorops::bench {

enum class BenchOp { kTopK, kTopKBackward, kZerosLike, kOnesLike, kSelect };

// One measured call, run the same way by every implementation.
struct BenchCase {
  // Benchmark name without the implementation suffix, e.g.
  // "topk/4096x32000/k50"; the registered names append "/ours" or "/torch".
  std::string name;
  BenchOp op;
  // topk, topk_backward and select: the shape of the input; fills: the
  // shape of the `like` tensor.
  Shape shape;
  int64_t k = 0;
  int64_t dim = -1;
  // topk: the input's dtype; every other op runs on float32.
  DType dtype = DType::kFloat32;
  // select: which selection, its dim, k, keepdim and direction.
  SelectionOptions selection = {};
};

// Every case of the default run, in the order they run and are reported.
std::vector<BenchCase> DefaultCases();

// The bytes behind the bytes/second figure of one call: topk's and
// select's input (read), the output of topk_backward and the fills
// (written).
int64_t BytesPerCall(const BenchCase& bench_case);

}  // namespace tensorops::bench

#endif  // TENSOROPS_BENCH_BENCH_CASES_H_
