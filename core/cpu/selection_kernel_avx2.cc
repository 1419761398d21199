// Selection kernels for processors with AVX2 (compiled with -mavx2 -mbmi
// -mbmi2).
#define TENSOROPS_CPU_ISA avx2
#include "core/cpu/isa/selection_dispatch.h"
