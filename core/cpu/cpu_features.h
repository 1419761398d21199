// Which of the kernels' instruction-set clones run: each kernel is compiled
// once per instruction set (core/cpu/*_<isa>.cc) and the best clone this
// processor can run is chosen once per process, unless the environment
// variable TENSOROPS_CPU_KERNELS names another runnable one ("generic",
// "avx2", "avx512"); tests use it to run every clone a machine has.
#ifndef TENSOROPS_CORE_CPU_CPU_FEATURES_H_
#define TENSOROPS_CORE_CPU_CPU_FEATURES_H_

#include <optional>
#include <string_view>

namespace tensorops::cpu {

enum class KernelIsa {
  kGeneric,  // any processor (x86-64: SSE2)
  kAvx2,     // AVX2, BMI1/2
  kAvx512,   // AVX2 and AVX-512 F, BW, DQ, VL
};

// "generic", "avx2" or "avx512".
const char* KernelIsaName(KernelIsa isa);
std::optional<KernelIsa> ParseKernelIsa(std::string_view name);

// Whether the clone was built and this processor can run it.
bool CanRunKernels(KernelIsa isa);

// The clone to run, given the value of TENSOROPS_CPU_KERNELS (null when
// unset): that clone when it names one CanRunKernels accepts, else the best
// runnable clone.
KernelIsa ChooseKernelIsa(const char* requested);

// ChooseKernelIsa(getenv("TENSOROPS_CPU_KERNELS")), decided on first use.
KernelIsa ChosenKernelIsa();

}  // namespace tensorops::cpu

#endif  // TENSOROPS_CORE_CPU_CPU_FEATURES_H_
