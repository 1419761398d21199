// GPU topk timings of the CUDA backend, end to end (host tensor in, host
// tensors out, as the server uses it), each case checked against the CPU
// backend first. Prints one line per case; scripts/gpu-check puts
// torch.topk's numbers next to them.
//
//   cuda_topk_bench [repeats]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/cuda/cuda_backend.h"

namespace tensorops {
namespace {

struct Case {
  const char* name;
  Shape shape;
  int64_t k;
  int64_t dim;
};

Tensor RandomFloats(const Shape& shape, std::mt19937& rng) {
  Tensor tensor = *Tensor::Allocate(DType::kFloat32, shape);
  std::normal_distribution<float> normal;
  float* data = reinterpret_cast<float*>(tensor.mutable_data());
  for (int64_t i = 0; i < tensor.num_elements(); ++i) data[i] = normal(rng);
  return tensor;
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.byte_size() == b.byte_size() &&
         std::memcmp(a.data(), b.data(), a.byte_size()) == 0;
}

int Run(int repeats) {
  absl::StatusOr<std::unique_ptr<Backend>> gpu = MakeCudaBackend();
  if (!gpu.ok()) {
    std::fprintf(stderr, "cuda_topk_bench: %s\n",
                 gpu.status().ToString().c_str());
    return 2;
  }
  CpuBackend cpu;
  const Case cases[] = {
      {"1x16M_k16", {1, 1 << 24}, 16, -1},
      {"1x16M_k1000", {1, 1 << 24}, 1000, -1},
      {"8x1M_k1024", {8, 1 << 20}, 1024, -1},
      {"4096x4096_k16", {4096, 4096}, 16, -1},
      {"65536x128_k8", {65536, 128}, 8, -1},
      {"1024x1024_dim0_k64", {1024, 1024}, 64, 0},
  };
  std::mt19937 rng(1);
  int failures = 0;
  std::printf("%-22s %12s %12s %s\n", "case", "cuda_ms", "cpu_ms", "same");
  for (const Case& c : cases) {
    const Tensor input = RandomFloats(c.shape, rng);
    const TopKOptions options{.k = c.k, .dim = c.dim};
    auto time_ms = [&](Backend& backend, absl::StatusOr<TopKResult>* last) {
      std::vector<double> times;
      for (int r = 0; r < repeats + 1; ++r) {
        const auto start = std::chrono::steady_clock::now();
        *last = backend.TopK(input, options);
        const auto end = std::chrono::steady_clock::now();
        if (r > 0) {  // the first run warms pools and caches
          times.push_back(
              std::chrono::duration<double, std::milli>(end - start).count());
        }
      }
      std::sort(times.begin(), times.end());
      return times[times.size() / 2];
    };
    absl::StatusOr<TopKResult> gpu_result;
    absl::StatusOr<TopKResult> cpu_result;
    const double gpu_ms = time_ms(**gpu, &gpu_result);
    const double cpu_ms = time_ms(cpu, &cpu_result);
    const bool same = gpu_result.ok() && cpu_result.ok() &&
                      SameBytes(gpu_result->values, cpu_result->values) &&
                      SameBytes(gpu_result->indices, cpu_result->indices);
    if (!same) ++failures;
    std::printf(
        "%-22s %12.3f %12.3f %s\n", c.name, gpu_ms, cpu_ms,
        same ? "yes"
             : (gpu_result.ok() ? "NO"
                                : gpu_result.status().ToString().c_str()));
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace tensorops

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
  return tensorops::Run(repeats);
}
