// Which of the kernels' instruction-set clones this processor runs.
#ifndef TENSOROPS_CORE_CPU_CPU_FEATURES_H_
#define TENSOROPS_CORE_CPU_CPU_FEATURES_H_

namespace tensorops::cpu {

// Whether the AVX2 clones (core/cpu/*_avx2.cc, built with -mavx2 -mbmi
// -mbmi2) were built and this processor can run them.
inline bool HasAvx2Kernels() {
#if defined(TENSOROPS_HAVE_AVX2_KERNELS)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
#else
  return false;
#endif
}

}  // namespace tensorops::cpu

#endif  // TENSOROPS_CORE_CPU_CPU_FEATURES_H_
