#include "core/cpu/cpu_features.h"

#include <cstdlib>

namespace tensorops::cpu {

const char* KernelIsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kGeneric:
      return "generic";
    case KernelIsa::kAvx2:
      return "avx2";
    case KernelIsa::kAvx512:
      return "avx512";
  }
  return "generic";
}

std::optional<KernelIsa> ParseKernelIsa(std::string_view name) {
  for (KernelIsa isa :
       {KernelIsa::kGeneric, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    if (name == KernelIsaName(isa)) return isa;
  }
  return std::nullopt;
}

bool CanRunKernels(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kGeneric:
      return true;
    case KernelIsa::kAvx2:
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
#else
      return false;
#endif
    case KernelIsa::kAvx512:
#if defined(TENSOROPS_HAVE_AVX512_KERNELS)
      return CanRunKernels(KernelIsa::kAvx2) &&
             __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl");
#else
      return false;
#endif
  }
  return false;
}

KernelIsa ChooseKernelIsa(const char* requested) {
  if (requested != nullptr) {
    const std::optional<KernelIsa> isa = ParseKernelIsa(requested);
    if (isa.has_value() && CanRunKernels(*isa)) return *isa;
  }
  for (KernelIsa isa : {KernelIsa::kAvx512, KernelIsa::kAvx2}) {
    if (CanRunKernels(isa)) return isa;
  }
  return KernelIsa::kGeneric;
}

KernelIsa ChosenKernelIsa() {
  static const KernelIsa chosen =
      ChooseKernelIsa(std::getenv("TENSOROPS_CPU_KERNELS"));
  return chosen;
}

}  // namespace tensorops::cpu
