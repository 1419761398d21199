// topk kernel for any x86-64 (SSE2) or other processor.
#define TENSOROPS_TOPK_ISA generic
#include "core/cpu/topk_kernel_impl.inc"
