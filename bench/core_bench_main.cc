// core_bench: our CPU backend against libtorch on the same data and thread
// count, then a Markdown table of the medians. See bench/CMakeLists.txt for
// how to run it and bench_options.h for its flags.
#include <tbb/task_arena.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "bench/bench_cases.h"
#include "bench/bench_options.h"
#include "bench/case_inputs.h"
#include "bench/median_reporter.h"
#include "bench/memory_floor.h"
#include "bench/prepared_case.h"
#include "bench/results_table.h"
#include "benchmark/benchmark.h"
#include "core/cpu/cpu_backend.h"
#include "core/cpu/cpu_features.h"

#if TENSOROPS_BENCH_WITH_TORCH
#include <ATen/Parallel.h>
#include <torch/version.h>

#include "bench/torch_ops.h"
#endif

namespace tensorops::bench {
namespace {

// Times `run(prepared)` (one call of one implementation) for `bench_case`,
// labelling the row when the implementations' outputs differ.
template <typename Run>
void TimeCalls(benchmark::State& state, const BenchCase& bench_case,
               Backend& backend, Run run) {
  const PreparedCase& prepared = PrepareCase(bench_case, backend);
  if (!prepared.status.ok()) {
    state.SkipWithError(prepared.status.ToString().c_str());
    return;
  }
  if (Disagrees(prepared.agreement)) state.SetLabel("OUTPUTS DIFFER");
  for (auto _ : state) {
    auto output = run(prepared);
    if (!output.ok()) {
      state.SkipWithError(output.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(output);
  }
  state.SetBytesProcessed(state.iterations() * BytesPerCall(bench_case));
}

void BenchmarkOurs(benchmark::State& state, const BenchCase& bench_case,
                   Backend& backend) {
  TimeCalls(state, bench_case, backend, [&](const PreparedCase& prepared) {
    return RunOurs(bench_case, prepared.ours, backend);
  });
}

// One pass over the case's bytes at the same thread count: reading the
// input of topk and the selection ops, writing an output-sized buffer
// (faulted in beforehand, like our pool's blocks) for the others.
void BenchmarkFloor(benchmark::State& state, const BenchCase& bench_case,
                    Backend& backend, tbb::task_arena& arena) {
  const PreparedCase& prepared = PrepareCase(bench_case, backend);
  if (!prepared.status.ok()) {
    state.SkipWithError(prepared.status.ToString().c_str());
    return;
  }
  const bool reads =
      bench_case.op == BenchOp::kTopK || bench_case.op == BenchOp::kSelect;
  if (reads) {
    for (auto _ : state) {
      benchmark::DoNotOptimize(ReadPass(prepared.ours.input.bytes(), arena));
    }
  } else {
    absl::StatusOr<Tensor> output =
        Tensor::Allocate(DType::kFloat32, bench_case.shape);
    if (!output.ok()) {
      state.SkipWithError(output.status().ToString().c_str());
      return;
    }
    const absl::Span<std::byte> bytes(output->mutable_data(),
                                      output->byte_size());
    WritePass(bytes, arena);
    for (auto _ : state) {
      WritePass(bytes, arena);
      benchmark::ClobberMemory();
    }
  }
  state.SetBytesProcessed(state.iterations() * BytesPerCall(bench_case));
}

#if TENSOROPS_BENCH_WITH_TORCH
void BenchmarkTorch(benchmark::State& state, const BenchCase& bench_case,
                    Backend& backend) {
  TimeCalls(state, bench_case, backend, [&](const PreparedCase& prepared) {
    return RunTorch(bench_case, prepared.torch);
  });
}
#endif

void Configure(benchmark::internal::Benchmark& benchmark,
               const BenchCase& bench_case, const BenchOptions& options) {
  // Tiny tensors take microseconds; everything else tens of milliseconds.
  benchmark.UseRealTime()->Unit(BytesPerCall(bench_case) < (1 << 20)
                                    ? benchmark::kMicrosecond
                                    : benchmark::kMillisecond);
  if (options.quick) {
    benchmark.Iterations(1)->Repetitions(1);
    return;
  }
  // A call slower than min_time runs once per repetition, which keeps the
  // whole default run within a few minutes on two cores.
  benchmark.MinTime(options.min_time_s)
      ->Repetitions(options.repetitions)
      ->DisplayAggregatesOnly(options.repetitions > 1);
}

// Registers each case's "/ours", "/torch" and "/floor" benchmarks, so a
// case's prepared data serves all three before the next case replaces it.
void RegisterCases(const std::vector<BenchCase>& cases,
                   const BenchOptions& options, Backend& backend,
                   tbb::task_arena& arena) {
  for (const BenchCase& bench_case : cases) {
    Configure(*benchmark::RegisterBenchmark(
                  OursName(bench_case).c_str(),
                  [bench_case, &backend](benchmark::State& state) {
                    BenchmarkOurs(state, bench_case, backend);
                  }),
              bench_case, options);
#if TENSOROPS_BENCH_WITH_TORCH
    Configure(*benchmark::RegisterBenchmark(
                  TorchName(bench_case).c_str(),
                  [bench_case, &backend](benchmark::State& state) {
                    BenchmarkTorch(state, bench_case, backend);
                  }),
              bench_case, options);
#endif
    Configure(*benchmark::RegisterBenchmark(
                  FloorName(bench_case).c_str(),
                  [bench_case, &backend, &arena](benchmark::State& state) {
                    BenchmarkFloor(state, bench_case, backend, arena);
                  }),
              bench_case, options);
  }
}

void PrintUsage() {
  benchmark::PrintDefaultHelp();
  std::cout << BenchOptionsUsage();
}

int Main(int argc, char** argv) {
  const absl::StatusOr<BenchOptions> options = ParseBenchOptions(argc, argv);
  if (!options.ok()) {
    std::cerr << "core_bench: " << options.status().message() << "\n"
              << BenchOptionsUsage();
    return 2;
  }
  benchmark::Initialize(&argc, argv, PrintUsage);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

#if TENSOROPS_BENCH_WITH_TORCH
  at::set_num_threads(options->threads);
  const std::string libtorch = TORCH_VERSION;
#else
  const std::string libtorch = "not built (configured without libtorch)";
#endif
  CpuBackend backend(CpuBackendOptions{.num_threads = options->threads});
  benchmark::AddCustomContext("threads", std::to_string(options->threads));
  benchmark::AddCustomContext("libtorch", libtorch);
  benchmark::AddCustomContext("kernels",
                              cpu::KernelIsaName(cpu::ChosenKernelIsa()));

  const std::vector<BenchCase> cases = DefaultCases();
  tbb::task_arena floor_arena(options->threads);
  RegisterCases(cases, *options, backend, floor_arena);

  MedianReporter reporter(isatty(STDOUT_FILENO)
                              ? benchmark::ConsoleReporter::OO_ColorTabular
                              : benchmark::ConsoleReporter::OO_Tabular);
  const size_t ran = benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (ran == 0) {
    std::cerr << "core_bench: no benchmark matched the filter\n";
    return 1;
  }
  const std::map<std::string, absl::Status>& agreement = AgreementByCase();
  PrintResultsTable(std::cout, DescribeRun(*options, libtorch), cases, reporter,
                    agreement);
  const bool any_disagreement =
      std::any_of(agreement.begin(), agreement.end(),
                  [](const auto& entry) { return Disagrees(entry.second); });
  return reporter.any_error() || any_disagreement ? 1 : 0;
}

}  // namespace
}  // namespace tensorops::bench

int main(int argc, char** argv) { return tensorops::bench::Main(argc, argv); }
