// A case made ready to measure: inputs built, both sides warmed up and their
// results checked against each other.
#ifndef TENSOROPS_BENCH_PREPARED_CASE_H_
#define TENSOROPS_BENCH_PREPARED_CASE_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "bench/bench_cases.h"
#include "bench/case_inputs.h"
#include "core/backend.h"

#if TENSOROPS_BENCH_WITH_TORCH
#include "bench/torch_ops.h"
#endif

namespace tensorops::bench {

struct PreparedCase {
  // Not OK when the case cannot be measured: an input could not be built or
  // a side failed. Both sides then report it as their error.
  absl::Status status;
  // Whether the two sides' outputs agree (when `status` is OK): OK if they
  // do, INTERNAL describing the first difference, UNAVAILABLE when built
  // without libtorch. A disagreement does not stop the measurement; the
  // results table flags it and core_bench exits with 1.
  absl::Status agreement;
  CaseInputs ours;
#if TENSOROPS_BENCH_WITH_TORCH
  TorchInputs torch;
#endif
};

// The prepared form of `bench_case`, built on first use: builds the inputs,
// runs each side once (the warm-up, untimed) and compares the outputs byte
// for byte (topk: values only, since equal values may be ordered
// differently). Only the most recent case is kept, so memory holds one
// case's data at a time; benchmarks of the same case should run together.
// The returned reference stays valid until the next call.
const PreparedCase& PrepareCase(const BenchCase& bench_case, Backend& backend);

// True when `agreement` (a PreparedCase::agreement) says the sides differ.
inline bool Disagrees(const absl::Status& agreement) {
  return !agreement.ok() && !absl::IsUnavailable(agreement);
}

// PreparedCase::agreement of every case prepared so far (whose status was
// OK), by case name; kept after the case's data is released.
const std::map<std::string, absl::Status>& AgreementByCase();

}  // namespace tensorops::bench

#endif  // TENSOROPS_BENCH_PREPARED_CASE_H_
