// topk kernel for processors with AVX2 (compiled with -mavx2 -mbmi -mbmi2).
#define TENSOROPS_TOPK_ISA avx2
#include "core/cpu/topk_kernel_impl.inc"
