// topk kernel for processors with AVX-512 F/BW/DQ/VL (compiled with them,
// AVX2 and BMI1/2).
#define TENSOROPS_CPU_ISA avx512
#include "core/cpu/isa/topk_dispatch.h"
